-- Every change of a customer's card status after registration: raised by a sale, dropped
-- by the daily `keep` review, or set by hand, with who and why. A trace beside the ledger
-- (a status change moves no bonuses). `review_day` is set only for a `keep` drop: its
-- unique key lets a customer drop at most one level a day, however many server processes
-- run the review. Appended; never edit once landed.

CREATE TABLE card_status_changes (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    cause       TEXT NOT NULL CHECK (cause IN ('sale', 'keep', 'manual')),
    actor       TEXT,                         -- who changed it by hand
    reason      TEXT NOT NULL DEFAULT '',
    at          TEXT NOT NULL,
    review_day  TEXT                          -- YYYY-MM-DD, UTC, for a keep drop
);
CREATE INDEX card_status_changes_by_customer ON card_status_changes(customer_id, id);
CREATE UNIQUE INDEX card_status_reviews ON card_status_changes(customer_id, review_day);
CREATE INDEX customers_by_card_status ON customers(card_status, id);
