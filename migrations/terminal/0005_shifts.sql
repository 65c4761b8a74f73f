-- The till's loyalty shifts («Отчёт лояльности за смену»), opened and closed with the
-- register's own shift through the bridge, or by a manager. A shift counts the operations
-- of the outbox after `after_seq` (the last one of the shift before it) up to `until_seq`
-- once it is closed: every operation made at the till belongs to exactly one shift, and
-- one made while no shift was open counts in the next one (opened or closed). Appended;
-- never edit once landed.
CREATE TABLE shifts (
    number      INTEGER PRIMARY KEY,            -- 1, 2, ... at this till
    after_seq   INTEGER NOT NULL,
    until_seq   INTEGER,                        -- set at the close
    opened_at   TEXT NOT NULL,
    opened_by   TEXT NOT NULL CHECK (opened_by IN ('register', 'manager', 'implicit')),
    opener      TEXT,                           -- the manager's name
    closed_at   TEXT,
    closed_by   TEXT CHECK (closed_by IN ('register', 'manager')),
    closer      TEXT
);
-- At most one shift is open.
CREATE UNIQUE INDEX shifts_one_open ON shifts((closed_at IS NULL)) WHERE closed_at IS NULL;

-- The report finds a shift's sales by their operation.
CREATE INDEX sales_by_operation ON sales(operation_id);
