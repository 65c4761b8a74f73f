-- The back office's customer page: cards blocked (lost, stolen, replaced), records merged
-- into another record of the same person, and customers erased on request (152-ФЗ): their
-- personal data removed, their ledger and purchases kept under the anonymous record. The
-- same data as migrations/server/0011_customer_admin.sql. Appended; never edit once landed.

ALTER TABLE customers ADD COLUMN IF NOT EXISTS erased_at timestamptz;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS merged_into text REFERENCES customers(id);

CREATE TABLE IF NOT EXISTS blocked_cards (
    card_number text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers(id),
    blocked_at  timestamptz NOT NULL,
    reason      text NOT NULL
);
CREATE INDEX IF NOT EXISTS blocked_cards_by_customer ON blocked_cards(customer_id);
