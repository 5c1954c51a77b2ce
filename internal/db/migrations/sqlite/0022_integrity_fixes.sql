-- integrity fixes: optimistic locking of campaign re-checks, the day a credit
-- record took its feed position (so one that passes its expiry date without
-- an edit is re-sequenced and withdrawn by the credit platform), and a way to
-- find bank accounts created before account_hmac existed.

ALTER TABLE campaign_cases ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- China date (YYYY-MM-DD) on which feed_seq was last assigned; '' for records
-- sequenced before this column, which an expired record then takes once more
ALTER TABLE credit_records ADD COLUMN seq_day TEXT NOT NULL DEFAULT '';

-- the accounts still to be hashed: the integrity run backfills them
CREATE INDEX bank_accounts_nohmac ON bank_accounts(id) WHERE account_hmac = '';
