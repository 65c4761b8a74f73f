-- The fiscal document a register printed for a sale, kept with the sale so a return at any
-- till of the chain finds it by the receipt's fiscal QR code; and the indexes that find a
-- sale by its receipt number at any till and a customer's recent purchases.
-- Appended; never edit once landed.

ALTER TABLE sales ADD COLUMN IF NOT EXISTS fiscal_fn text;    -- the fiscal drive's number (ФН)
ALTER TABLE sales ADD COLUMN IF NOT EXISTS fiscal_fd bigint;  -- the document's number (ФД)
ALTER TABLE sales ADD COLUMN IF NOT EXISTS fiscal text;       -- JSON of domain::fiscal::FiscalData

-- One fiscal document is one sale.
CREATE UNIQUE INDEX IF NOT EXISTS sales_by_fiscal ON sales(fiscal_fn, fiscal_fd)
    WHERE fiscal_fn IS NOT NULL;
CREATE INDEX IF NOT EXISTS sales_by_receipt ON sales(receipt_id);
CREATE INDEX IF NOT EXISTS sales_by_customer ON sales(customer_id, at);
