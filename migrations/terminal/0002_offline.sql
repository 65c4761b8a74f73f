-- What the offline fallback needs beyond 0001. Appended; never edit once landed.

-- The customer an operation concerns, so an offline lookup can take the bonuses spent
-- here, and not yet in the server's feed, off the cached balance.
ALTER TABLE outbox ADD COLUMN customer_id TEXT;
CREATE INDEX outbox_by_customer ON outbox(customer_id) WHERE customer_id IS NOT NULL;

-- When a cached customer row last came from the server's feed (or was made here at an
-- offline registration). Operations answered after it are not in its balance yet.
ALTER TABLE customers_cache ADD COLUMN cached_at TEXT NOT NULL DEFAULT '1970-01-01T00:00:00.000000Z';

-- Cashiers who logged in here while the server answered, so they can log in while it does
-- not. The code is kept only as a keyed hash under the cache key of the secret store.
CREATE TABLE cashiers_cache (
    code_hash   TEXT PRIMARY KEY,
    cashier_id  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
    seen_at     TEXT NOT NULL
);
