-- A customer's two consents as they stand now, beside the history of each change in
-- `consents`: the lookup, the feed and a sale read them with the customer. A customer
-- whose processing consent is withdrawn neither accrues nor spends until it is given again.
-- Set from each customer's latest consent row; a customer with no row (imported) keeps
-- the processing consent they were registered with. Appended; never edit once landed.

ALTER TABLE customers ADD COLUMN consent_processing INTEGER NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN consent_advertising INTEGER NOT NULL DEFAULT 0;

UPDATE customers SET
    consent_processing = COALESCE((SELECT k.granted FROM consents k
        WHERE k.customer_id = customers.id AND k.kind = 'processing'
        ORDER BY k.id DESC LIMIT 1), 1),
    consent_advertising = COALESCE((SELECT k.granted FROM consents k
        WHERE k.customer_id = customers.id AND k.kind = 'advertising'
        ORDER BY k.id DESC LIMIT 1), 0);
