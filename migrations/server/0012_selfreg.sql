-- The customer's own page (/r/{store}): self-registration from the till's QR code and
-- «Моя карта». Appended; never edit once landed.

-- Every SMS code the public page sent, by a keyed hash of the client's address: the
-- per-address and the global hourly limits count these (rows older than the window go
-- at the next send).
CREATE TABLE web_sms_sends (
    id          INTEGER PRIMARY KEY,
    client_hash BLOB NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX web_sms_sends_by_client ON web_sms_sends(client_hash, at);
CREATE INDEX web_sms_sends_by_time ON web_sms_sends(at);

-- A browser's place in the page, by the SHA-256 of its cookie's token: a registration or a
-- sign-in waiting for its SMS code (with the phone), or a signed-in customer.
CREATE TABLE web_sessions (
    token_hash  BLOB PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('registration', 'sign_in', 'customer')),
    store_id    TEXT NOT NULL REFERENCES stores(id),
    phone       TEXT,
    customer_id TEXT REFERENCES customers(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);

-- The operation sequence of each store's web pseudo-terminal (`web:STORE`), which applies
-- the page's registrations and consent changes through the operations batch.
CREATE TABLE web_terminals (
    id          TEXT PRIMARY KEY,
    last_seq    INTEGER NOT NULL
);

-- A customer's request, from «Моя карта», to erase their data (152-ФЗ): the owner carries
-- it out in the back office.
CREATE TABLE erase_requests (
    customer_id  TEXT PRIMARY KEY REFERENCES customers(id),
    store_id     TEXT,
    requested_at TEXT NOT NULL
);
