-- Holds at the server this till must release and has not yet: a receipt the register took
-- back while the server did not answer, or one a manager dropped from «Неподтверждённые
-- чеки». Until released, the server counts the hold against the customer's balance (until
-- it expires), so they survive a restart of the till; the sync worker releases them when
-- the server answers. Appended; never edit once landed.
CREATE TABLE hold_releases (
    hold_id TEXT PRIMARY KEY,   -- the hold's id: the operation id of its sale
    since   TEXT NOT NULL       -- when the till first wanted it released
);
