-- The back office's customer page: cards blocked (lost, stolen, replaced), records merged
-- into another record of the same person, and customers erased on request (152-ФЗ): their
-- personal data removed, their ledger and purchases kept under the anonymous record.
-- Appended; never edit once landed.

ALTER TABLE customers ADD COLUMN erased_at TEXT;
ALTER TABLE customers ADD COLUMN merged_into TEXT REFERENCES customers(id);

-- Card numbers that no longer open a record: never issued again.
CREATE TABLE blocked_cards (
    card_number TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    blocked_at  TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX blocked_cards_by_customer ON blocked_cards(customer_id);
