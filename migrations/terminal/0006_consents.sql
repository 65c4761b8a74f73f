-- A cached customer's two consents as the server's feed last told them: a till offline
-- prices a customer who withdrew the consent to the processing of personal data without
-- loyalty, as the server will, and the card shows both. Rows cached before this knew
-- neither: they read as processing given and advertising not given, and the feed is
-- read again from its start so every customer's state arrives. Appended; never edit
-- once landed.
ALTER TABLE customers_cache ADD COLUMN consent_processing INTEGER NOT NULL DEFAULT 1;
ALTER TABLE customers_cache ADD COLUMN consent_advertising INTEGER NOT NULL DEFAULT 0;
DELETE FROM meta WHERE key = 'feed_cursor';
