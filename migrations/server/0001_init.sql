-- The central server's first schema. Appended migrations only: never edit this file once
-- it has landed; add 0002_*.sql instead.
--
-- Money and bonuses are INTEGER kopecks (1 bonus = 100). Times are RFC 3339 UTC text,
-- which sorts in time order. Secrets (cashier codes, tokens, SMS codes) are stored only
-- as salted SHA-256 hashes.

CREATE TABLE rules (
    version     INTEGER PRIMARY KEY,          -- increases by one with every load that changed the text
    text        TEXT NOT NULL,
    loaded_at   TEXT NOT NULL
);

CREATE TABLE stores (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    utc_offset_minutes INTEGER NOT NULL DEFAULT 180,
    created_at  TEXT NOT NULL
);

CREATE TABLE cashiers (
    id          INTEGER PRIMARY KEY,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
    code_salt   BLOB NOT NULL,
    code_hash   BLOB NOT NULL,
    failed_tries INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    active      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX cashiers_by_store ON cashiers(store_id);

CREATE TABLE enrollment_codes (
    code_hash   BLOB PRIMARY KEY,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    terminal_id TEXT
);

CREATE TABLE terminals (
    id          TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    name        TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL,
    revoked_at  TEXT,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    -- Wrong cashier codes lock logins on this terminal with a growing delay.
    login_failures INTEGER NOT NULL DEFAULT 0,
    login_locked_until TEXT
);

-- The key terminals use for their keyed-hash customer lookups (one per store).
CREATE TABLE lookup_keys (
    store_id    TEXT PRIMARY KEY REFERENCES stores(id),
    key         BLOB NOT NULL
);

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL UNIQUE,         -- E.164
    card_number TEXT UNIQUE,
    card_status TEXT NOT NULL,
    phone_verified INTEGER NOT NULL,
    last_name   TEXT,
    first_name  TEXT,
    middle_name TEXT,
    gender      TEXT CHECK (gender IN ('male', 'female')),
    birth_date  TEXT,                         -- YYYY-MM-DD
    email       TEXT,
    referrer_id TEXT REFERENCES customers(id),
    registered_at TEXT NOT NULL,
    store_id    TEXT,
    terminal_id TEXT,
    cashier     TEXT,
    change_seq  INTEGER NOT NULL              -- position in the terminals' customer feed
);
CREATE INDEX customers_by_change ON customers(change_seq);
CREATE INDEX customers_by_referrer ON customers(referrer_id);

CREATE TABLE feed_counter (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last        INTEGER NOT NULL
);
INSERT INTO feed_counter (id, last) VALUES (1, 0);

CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kind        TEXT NOT NULL CHECK (kind IN ('processing', 'advertising')),
    granted     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    terminal_id TEXT,
    cashier     TEXT
);
CREATE INDEX consents_by_customer ON consents(customer_id);

-- Bonuses as batches: spent oldest-burning first, so expiry never takes spent bonuses.
-- A negative `remaining` is a debt left by a claw-back larger than the balance.
CREATE TABLE bonus_batches (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    amount      INTEGER NOT NULL,
    remaining   INTEGER NOT NULL,
    source      TEXT NOT NULL,
    active_from TEXT NOT NULL,
    burns_at    TEXT,
    created_at  TEXT NOT NULL,
    operation_id TEXT
);
-- Only batches with bonuses left (or owed): balances and spends never read spent batches.
CREATE INDEX batches_live ON bonus_batches(customer_id, remaining, active_from, burns_at)
    WHERE remaining <> 0;
CREATE INDEX batches_to_burn ON bonus_batches(burns_at) WHERE remaining > 0;
CREATE INDEX batches_by_activation ON bonus_batches(active_from);

-- «История бонусов»: every change of a balance, in words.
CREATE TABLE ledger_entries (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at          TEXT NOT NULL,
    amount      INTEGER NOT NULL,             -- signed
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    operation_id TEXT,
    actor       TEXT
);
CREATE INDEX ledger_by_customer ON ledger_entries(customer_id, at);

-- Every operation id ever seen, with the answer it got: applied at most once, forever.
CREATE TABLE operations (
    id          TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('applied', 'rejected')),
    answer      TEXT NOT NULL                 -- JSON of the answer, returned again for a duplicate
);
CREATE INDEX operations_by_terminal ON operations(terminal_id, seq);

CREATE TABLE sales (
    receipt_id  TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    operation_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at          TEXT NOT NULL,
    sale        TEXT NOT NULL,                -- JSON of domain::returns::Sale
    returned    TEXT NOT NULL DEFAULT '{}',   -- JSON: position id -> quantity returned so far
    PRIMARY KEY (receipt_id, terminal_id)
);

CREATE TABLE purchases (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at          TEXT NOT NULL,
    sum         INTEGER NOT NULL              -- kopecks paid; negative for a return
);
CREATE INDEX purchases_by_customer ON purchases(customer_id, at);

CREATE TABLE sms_codes (
    id          INTEGER PRIMARY KEY,
    phone       TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    salt        BLOB NOT NULL,
    code_hash   BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    tries_left  INTEGER NOT NULL,
    verified_at TEXT,
    terminal_id TEXT NOT NULL
);
CREATE INDEX sms_codes_by_phone ON sms_codes(phone, created_at);
CREATE INDEX sms_codes_by_terminal ON sms_codes(terminal_id, created_at);

-- One-time proofs that a phone was verified, handed to the terminal for a registration.
CREATE TABLE verifications (
    token_hash  BLOB PRIMARY KEY,
    phone       TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

CREATE TABLE birthday_grants (
    customer_id TEXT NOT NULL REFERENCES customers(id),
    year        INTEGER NOT NULL,
    PRIMARY KEY (customer_id, year)
);
