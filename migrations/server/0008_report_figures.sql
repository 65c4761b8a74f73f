-- The back office's reports (issue 15): each applied sale and return with the store and the
-- cashier it was made by and its money, so a report sums them per local day, store and
-- cashier in SQL; and the time indexes a report's period reads through.
-- Appended; never edit once landed.
--
-- The bonuses of a receipt are not repeated here: the reports read them from the ledger,
-- the one record balances are made of.
CREATE TABLE receipt_figures (
    operation_id TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('sale', 'return')),
    at          TEXT NOT NULL,                -- when the till made it
    store_id    TEXT NOT NULL,                -- '' when the till's store is unknown
    terminal_id TEXT NOT NULL,
    cashier     TEXT NOT NULL,                -- the cashier's name, '' when unknown
    paid        INTEGER NOT NULL,             -- kopecks paid (a sale) or paid back (a return)
    discount    INTEGER NOT NULL              -- kopecks of discount the sale gave; 0 for a return
);
CREATE INDEX receipt_figures_by_time ON receipt_figures(at);

-- Sales kept before this table: the money from the kept sale, the cashier from the history
-- lines the sale wrote (a sale that spent or accrued nothing names none). Their discount
-- was not kept and counts as 0.
INSERT INTO receipt_figures (operation_id, kind, at, store_id, terminal_id, cashier, paid, discount)
SELECT s.operation_id, 'sale', s.at, COALESCE(t.store_id, ''), s.terminal_id,
    COALESCE((SELECT e.actor FROM ledger_entries e
        WHERE e.operation_id = s.operation_id AND e.actor IS NOT NULL LIMIT 1), ''),
    COALESCE((SELECT SUM(CAST(ROUND(CAST(json_extract(p.value, '$.paid') AS REAL) * 100) AS INTEGER))
        FROM json_each(s.sale, '$.positions') p), 0),
    0
FROM sales s LEFT JOIN terminals t ON t.id = s.terminal_id;

-- Returns applied before: the money from the recorded answer.
INSERT INTO receipt_figures (operation_id, kind, at, store_id, terminal_id, cashier, paid, discount)
SELECT o.id, 'return', o.received_at, COALESCE(t.store_id, ''), o.terminal_id,
    COALESCE((SELECT e.actor FROM ledger_entries e
        WHERE e.operation_id = o.id AND e.actor IS NOT NULL LIMIT 1), ''),
    COALESCE(CAST(ROUND(CAST(json_extract(o.answer, '$.answer.paid') AS REAL) * 100) AS INTEGER), 0),
    0
FROM operations o LEFT JOIN terminals t ON t.id = o.terminal_id
WHERE o.kind = 'return' AND o.status = 'applied';

CREATE INDEX ledger_by_time ON ledger_entries(at);
CREATE INDEX customers_by_registration ON customers(registered_at);
CREATE INDEX consents_by_time ON consents(at);
CREATE INDEX batches_by_creation ON bonus_batches(created_at);
