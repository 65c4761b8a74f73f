-- The terminal's first schema. Appended migrations only: never edit this file once it has
-- landed; add 0002_*.sql instead.
--
-- The terminal keeps the minimum (SPEC.md §7): no phone number, no card number, no name
-- beyond a first name and an initial. Lookups go through keyed hashes whose key lives in
-- the secret store. Bonuses are INTEGER kopecks; times are RFC 3339 UTC text.

-- Settings that are not secrets (terminal id, store, feed cursor, last sequence number).
CREATE TABLE meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);

CREATE TABLE rules_cache (
    version     INTEGER PRIMARY KEY,
    text        TEXT NOT NULL,
    fetched_at  TEXT NOT NULL
);

CREATE TABLE customers_cache (
    id          TEXT PRIMARY KEY,
    phone_hash  TEXT NOT NULL,
    card_hash   TEXT,
    phone_masked TEXT NOT NULL,
    name        TEXT NOT NULL,
    card_status TEXT NOT NULL,
    phone_verified INTEGER NOT NULL,
    balance     INTEGER NOT NULL,             -- as of the server's feed
    pending     INTEGER NOT NULL,
    seq         INTEGER NOT NULL              -- the feed position it came from
);
CREATE INDEX customers_by_phone_hash ON customers_cache(phone_hash);
CREATE INDEX customers_by_card_hash ON customers_cache(card_hash) WHERE card_hash IS NOT NULL;

-- Every operation made at this till, kept byte for byte as first sent: a resend is
-- identical. `seq` is the terminal's sequence number.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    offline     INTEGER NOT NULL,
    spend       INTEGER NOT NULL DEFAULT 0,   -- bonuses spent by this operation, kopecks
    state       TEXT NOT NULL CHECK (state IN ('pending', 'done', 'rejected')),
    answer      TEXT,
    answered_at TEXT
);
CREATE INDEX outbox_pending ON outbox(seq) WHERE state = 'pending';

-- Operations the server refused: never retried, never undone at the till; a manager
-- resolves them.
CREATE TABLE conflicts (
    operation_id TEXT PRIMARY KEY REFERENCES outbox(id),
    reason      TEXT NOT NULL,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT
);

-- Sales made here, with their per-position results, so a return is computed offline and
-- never refunds more than was spent.
CREATE TABLE sales (
    receipt_id  TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    operation_id TEXT NOT NULL REFERENCES outbox(id),
    at          TEXT NOT NULL,
    sale        TEXT NOT NULL,                -- JSON of domain::returns::Sale
    returned    TEXT NOT NULL DEFAULT '{}'    -- JSON: position id -> quantity returned
);
