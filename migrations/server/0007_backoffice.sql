-- The chain's back office: owner and store-manager accounts, their sign-in sessions, an
-- audit log of every change they make, stores with an address and a time zone, the state
-- each till last reported, and rules versions that are uploaded first and activated
-- separately (so a version can be tried, activated, and rolled back to).
-- Appended; never edit once landed.

CREATE TABLE admin_accounts (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,         -- lower case
    role        TEXT NOT NULL CHECK (role IN ('owner', 'manager')),
    password    TEXT NOT NULL,                -- argon2id PHC string
    must_change INTEGER NOT NULL,             -- a one-time password: change at first sign-in
    failed_tries INTEGER NOT NULL DEFAULT 0,
    locks       INTEGER NOT NULL DEFAULT 0,   -- how many times it locked: the delay doubles
    locked_until TEXT,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL
);

-- The stores a manager account manages (an owner's rows are unused: it sees all).
CREATE TABLE admin_account_stores (
    account_id  INTEGER NOT NULL REFERENCES admin_accounts(id),
    store_id    TEXT NOT NULL REFERENCES stores(id),
    PRIMARY KEY (account_id, store_id)
);

-- Sign-in sessions: only a hash of the token is kept.
CREATE TABLE admin_sessions (
    token_hash  BLOB PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES admin_accounts(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX admin_sessions_by_account ON admin_sessions(account_id);

-- Every change made in the back office: who, when, what, before and after (JSON, no
-- secrets). Appended only.
CREATE TABLE admin_audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    account_id  INTEGER,                      -- NULL: the command line on the server
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    store_id    TEXT,
    before      TEXT,
    after       TEXT
);
CREATE INDEX admin_audit_by_time ON admin_audit(at);

ALTER TABLE stores ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE stores ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Europe/Moscow';

-- What each till said of itself at its last sync.
ALTER TABLE terminals ADD COLUMN app_version TEXT;
ALTER TABLE terminals ADD COLUMN last_sync_at TEXT;
ALTER TABLE terminals ADD COLUMN queue_length INTEGER;
ALTER TABLE terminals ADD COLUMN oldest_queued_at TEXT;

ALTER TABLE rules ADD COLUMN uploaded_by TEXT NOT NULL DEFAULT '';
ALTER TABLE rules ADD COLUMN comment TEXT NOT NULL DEFAULT '';

-- Which rules version the chain uses: the latest row. Until now the newest version was it.
CREATE TABLE rules_activations (
    seq         INTEGER PRIMARY KEY,
    version     INTEGER NOT NULL REFERENCES rules(version),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL
);
INSERT INTO rules_activations (version, at, actor)
    SELECT version, loaded_at, '' FROM rules ORDER BY version DESC LIMIT 1;
