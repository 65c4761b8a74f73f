-- Holds: bonuses a till reserved for a sale it is about to close (issue 13), so a second
-- till computing the same customer at the same moment sees only what is left. The same
-- table as migrations/server/0004_holds.sql. Appended; never edit once landed.
--
-- A hold's id is the sale operation's id the till made at apply. A hold counts against
-- the customer's spendable balance until it expires, is released (the sale was cancelled)
-- or is consumed (the sale operation naming it was applied); expired holds simply stop
-- counting, and the prune job deletes them later. Placing and consuming a hold happen
-- under the customer's row lock, like every spend.
CREATE TABLE IF NOT EXISTS holds (
    id          text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers(id),
    terminal_id text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    state       text NOT NULL DEFAULT 'live'
);
CREATE INDEX IF NOT EXISTS holds_live ON holds(customer_id, expires_at) WHERE state = 'live';
CREATE INDEX IF NOT EXISTS holds_expiry ON holds(expires_at);
