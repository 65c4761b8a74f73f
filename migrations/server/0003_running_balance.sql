-- A running balance per customer and the indexes that let a balance, a spend and the feed
-- read only the batches that matter, however long a customer's history grows.
-- Appended; never edit once landed.

-- The sum of the remainders of all the customer's batches (debts included). A balance is
-- this total less what is pending and less what is past its burning time but not burnt
-- yet, and those two are read through the indexes below, which hold only such batches.
ALTER TABLE customers ADD COLUMN bonus_total INTEGER NOT NULL DEFAULT 0;
UPDATE customers SET bonus_total =
    (SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches b WHERE b.customer_id = customers.id);

-- Batches not active yet, by activation: the pending part of a balance, a claw-back's order.
-- It carries the remainder and the burning time, so summing a customer's pending bonuses
-- never reads the table (a regular's purchases of the last day are all pending on a card
-- that activates bonuses after a day).
CREATE INDEX batches_pending ON bonus_batches(customer_id, active_from, remaining, burns_at)
    WHERE remaining <> 0;
-- Batches with bonuses left, by burning time: the spending order (soonest burning first,
-- then the never-burning ones, each in the order granted), and what is past its time.
CREATE INDEX batches_spendable ON bonus_batches(customer_id, burns_at) WHERE remaining > 0;
