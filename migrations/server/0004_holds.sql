-- Holds: bonuses a till reserved for a sale it is about to close (issue 13), so a second
-- till computing the same customer at the same moment sees only what is left.
-- Appended; never edit once landed.
--
-- A hold's id is the sale operation's id the till made at apply. A hold counts against
-- the customer's spendable balance until it expires, is released (the sale was cancelled)
-- or is consumed (the sale operation naming it was applied); expired holds simply stop
-- counting, and the prune job deletes them later.
CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    terminal_id TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),   -- kopecks
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    -- 'live', 'released' or 'consumed'; a hold that is not live counts nowhere.
    state       TEXT NOT NULL DEFAULT 'live'
);
-- The live holds of a customer, summed by every lookup and calculation.
CREATE INDEX holds_live ON holds(customer_id, expires_at) WHERE state = 'live';
-- What the prune job deletes.
CREATE INDEX holds_expiry ON holds(expires_at);
