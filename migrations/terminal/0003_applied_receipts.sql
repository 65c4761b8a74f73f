-- Receipts the cashier applied and handed to the register, kept from the apply until the
-- register closes them (or a manager settles them), so a restart of the till between the
-- apply and the close loses nothing. Appended; never edit once landed.
--
-- state: applied      the register has the prices and is printing;
--        closed       the register closed it: its operation is queued (same transaction);
--        cancelled    the register or the cashier took it back: nothing is recorded;
--        unconfirmed  the register never closed it in time: on the manager's list
--                     «Неподтверждённые чеки» until booked or dropped;
--        booked       a manager booked it: its operation is queued (same transaction);
--        dropped      a manager dropped it: no sale, an audit record is queued.
CREATE TABLE applied_receipts (
    operation_id TEXT PRIMARY KEY,              -- the id told to the register at the apply
    receipt_id   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('sale', 'return')),
    state        TEXT NOT NULL CHECK (state IN
                   ('applied', 'closed', 'cancelled', 'unconfirmed', 'booked', 'dropped')),
    receipt      TEXT NOT NULL,                 -- JSON of the receipt as applied
    kept         TEXT NOT NULL,                 -- JSON of store::applied::Kept: what the close queues
    customer_id  TEXT,
    customer     TEXT,                          -- the customer's short name, as the till shows it
    cashier      TEXT NOT NULL,
    cashier_id   INTEGER,
    offline      INTEGER NOT NULL,
    total        INTEGER NOT NULL,              -- the receipt's sum, kopecks
    spend        INTEGER NOT NULL DEFAULT 0,    -- bonuses spent, kopecks
    applied_at   TEXT NOT NULL,
    fiscal       TEXT,                          -- JSON of the printed fiscal document, if reported
    settled_at   TEXT,
    settled_by   TEXT
);
CREATE INDEX applied_by_receipt ON applied_receipts(receipt_id);
CREATE INDEX applied_unsettled ON applied_receipts(applied_at)
    WHERE state IN ('applied', 'unconfirmed');
