-- The import of an existing customer base (issue 15): which customers an import row made,
-- so importing the same file again recognises them and changes nothing. The digest is a
-- SHA-256 of the row's content as read (phone, names, card, status, balance, …): the same
-- phone with the same digest is the same row already imported; the same phone with another
-- digest is a conflict the report names. Appended; never edit once landed.

CREATE TABLE IF NOT EXISTS customer_imports (
    customer_id text PRIMARY KEY REFERENCES customers(id),
    digest      text NOT NULL,                -- hex SHA-256 of the row's normalised content
    store_id    text,                         -- the store the base was imported into
    imported_at timestamptz NOT NULL
);
