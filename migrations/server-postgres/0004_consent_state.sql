-- A customer's two consents as they stand now, beside the history of each change in
-- `consents`: the lookup, the feed and a sale read them with the customer. A customer
-- whose processing consent is withdrawn neither accrues nor spends until it is given again.
-- Set from each customer's latest consent row; a customer with no row (imported) keeps
-- the processing consent they were registered with. The update below `-- @data` runs
-- again harmlessly after a crash between the two parts. Appended; never edit once landed.

ALTER TABLE customers ADD COLUMN IF NOT EXISTS consent_processing boolean NOT NULL DEFAULT true;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS consent_advertising boolean NOT NULL DEFAULT false;

-- @data
UPDATE customers SET
    consent_processing = COALESCE((SELECT k.granted FROM consents k
        WHERE k.customer_id = customers.id AND k.kind = 'processing'
        ORDER BY k.seq DESC LIMIT 1), true),
    consent_advertising = COALESCE((SELECT k.granted FROM consents k
        WHERE k.customer_id = customers.id AND k.kind = 'advertising'
        ORDER BY k.seq DESC LIMIT 1), false);
