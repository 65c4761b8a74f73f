-- Audit events from the tills: what a manager allowed that the rules alone would not
-- (an offline spend beyond the [offline] limits, …). Appended; never edit once landed.
CREATE TABLE audit_events (
    operation_id TEXT PRIMARY KEY,               -- the audit operation's id
    terminal_id TEXT NOT NULL,
    cashier_id  INTEGER NOT NULL,
    cashier     TEXT NOT NULL,
    event       TEXT NOT NULL,
    customer_id TEXT,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
