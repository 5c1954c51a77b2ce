-- integrity (issue #9 items 3-4, issue #8 item 4): anomaly lists with the
-- inspectors' decisions, special campaigns with their sampled cases, and the
-- credit records of confirmed fraud.

-- bank account numbers are sealed with a random nonce, so matching one account
-- across people needs the keyed hash (HMAC-SM3) beside the sealed form
ALTER TABLE bank_accounts ADD COLUMN account_hmac TEXT NOT NULL DEFAULT '';
CREATE INDEX bank_accounts_hmac ON bank_accounts(account_hmac) WHERE account_hmac <> '';

-- the ordinal of each day among working days (a non-working day has the
-- ordinal of the working day before it), refreshed from the calendar before
-- each run, so working-day spans are a subtraction inside the lists' SQL
CREATE TABLE integrity_workdays (
    day TEXT PRIMARY KEY,
    n   INTEGER NOT NULL
);

-- one row per anomaly, keyed by list and subject so a re-run finds it again
CREATE TABLE integrity_entries (
    id           INTEGER PRIMARY KEY,
    list         TEXT NOT NULL,
    entry_key    TEXT NOT NULL UNIQUE,
    region_code  TEXT NOT NULL,
    county_code  TEXT NOT NULL,
    household_id BIGINT,
    case_id      BIGINT,
    person_id    BIGINT,
    amount_fen   BIGINT NOT NULL DEFAULT 0,
    evidence     TEXT NOT NULL,
    present      BOOLEAN NOT NULL DEFAULT TRUE,
    first_seen   TIMESTAMP NOT NULL,
    last_seen    TIMESTAMP NOT NULL,
    status       TEXT NOT NULL DEFAULT 'open',
    reason       TEXT NOT NULL DEFAULT '',
    fraud        BOOLEAN NOT NULL DEFAULT FALSE,
    decided_by   TEXT NOT NULL DEFAULT '',
    decided_at   TIMESTAMP,
    recovery_id  BIGINT,
    credit_id    BIGINT,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX integrity_entries_region ON integrity_entries(region_code, list, status);

-- every decision on an entry, never overwritten
CREATE TABLE integrity_decisions (
    id          INTEGER PRIMARY KEY,
    entry_id    BIGINT NOT NULL REFERENCES integrity_entries(id),
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    fraud       BOOLEAN NOT NULL DEFAULT FALSE,
    amount_fen  BIGINT NOT NULL DEFAULT 0,
    username    TEXT NOT NULL,
    role        TEXT NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX integrity_decisions_entry ON integrity_decisions(entry_id, id);

CREATE TABLE integrity_runs (
    id          INTEGER PRIMARY KEY,
    scope       TEXT NOT NULL,
    username    TEXT NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    summary     TEXT NOT NULL DEFAULT ''
);

-- special campaigns (专项治理) and the cases they sampled for re-checking
CREATE TABLE campaigns (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    region_code  TEXT NOT NULL REFERENCES regions(code),
    period_from  TEXT NOT NULL,
    period_to    TEXT NOT NULL,
    programme    TEXT NOT NULL DEFAULT '',
    sample_list  TEXT NOT NULL DEFAULT '',
    percent      INTEGER NOT NULL,
    seed         BIGINT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'open',
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    closed_by    TEXT NOT NULL DEFAULT '',
    closed_at    TIMESTAMP,
    close_note   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX campaigns_region ON campaigns(region_code, state);

CREATE TABLE campaign_cases (
    id            INTEGER PRIMARY KEY,
    campaign_id   BIGINT NOT NULL REFERENCES campaigns(id),
    case_id       BIGINT NOT NULL REFERENCES cases(id),
    household_id  BIGINT NOT NULL,
    region_code   TEXT NOT NULL,
    township_code TEXT NOT NULL,
    result        TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    checked_by    TEXT NOT NULL DEFAULT '',
    checked_at    TIMESTAMP,
    UNIQUE (campaign_id, case_id)
);
CREATE INDEX campaign_cases_township ON campaign_cases(township_code, campaign_id);

-- credit records of confirmed fraud (失信记录): who (masked name, masked and
-- sealed ID), what, how much, which decision, when; feed_seq orders every
-- change for the credit platform's fetch
CREATE TABLE credit_records (
    id              INTEGER PRIMARY KEY,
    person_id       BIGINT NOT NULL REFERENCES persons(id),
    region_code     TEXT NOT NULL,
    county_code     TEXT NOT NULL,
    name_masked     TEXT NOT NULL,
    id_masked       TEXT NOT NULL,
    id_enc          TEXT NOT NULL,
    what            TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL,
    decision_ref    TEXT NOT NULL UNIQUE,
    decided_on      TEXT NOT NULL,
    expires_on      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'active',
    appeal_filed_on TEXT NOT NULL DEFAULT '',
    appeal_grounds  TEXT NOT NULL DEFAULT '',
    appeal_outcome  TEXT NOT NULL DEFAULT '',
    appeal_note     TEXT NOT NULL DEFAULT '',
    appeal_by       TEXT NOT NULL DEFAULT '',
    feed_seq        BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX credit_records_region ON credit_records(region_code, state);
CREATE UNIQUE INDEX credit_records_feed ON credit_records(feed_seq);
