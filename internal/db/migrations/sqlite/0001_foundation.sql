-- region: the five-level tree; codes are 12 digits, prefix is the significant part.
CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    prefix      TEXT NOT NULL UNIQUE,
    level       INTEGER NOT NULL,
    name        TEXT NOT NULL,
    parent_code TEXT REFERENCES regions(code),
    kind        TEXT NOT NULL
);
CREATE INDEX regions_parent ON regions(parent_code);

-- auth
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL,
    region_code     TEXT NOT NULL REFERENCES regions(code),
    password_hash   TEXT NOT NULL,
    must_change_pw  BOOLEAN NOT NULL DEFAULT FALSE,
    demo            BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TIMESTAMP,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMP NOT NULL,
    created_by      BIGINT,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_region ON users(region_code);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- audit: append-only, hash-chained; audit_head serialises appends.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    user_id     BIGINT,
    username    TEXT NOT NULL,
    role        TEXT NOT NULL,
    user_region TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    region_code TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_user ON audit_log(username, at);
CREATE INDEX audit_log_object ON audit_log(object_type, object_id);
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY,
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- registry
CREATE TABLE households (
    id          INTEGER PRIMARY KEY,
    hh_no       TEXT NOT NULL UNIQUE,
    region_code TEXT NOT NULL REFERENCES regions(code),
    hukou       TEXT NOT NULL,
    address     TEXT NOT NULL,
    phone       TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'active',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX households_region ON households(region_code);

CREATE TABLE persons (
    id               INTEGER PRIMARY KEY,
    household_id     BIGINT REFERENCES households(id),
    region_code      TEXT NOT NULL REFERENCES regions(code),
    id_hmac          TEXT NOT NULL UNIQUE,
    id_enc           TEXT NOT NULL,
    id_masked        TEXT NOT NULL,
    name             TEXT NOT NULL,
    sex              TEXT NOT NULL,
    birth_date       TEXT NOT NULL,
    phone            TEXT NOT NULL DEFAULT '',
    relation         TEXT NOT NULL,
    co_resident      BOOLEAN NOT NULL DEFAULT TRUE,
    disability_kind  TEXT NOT NULL DEFAULT '',
    disability_level INTEGER NOT NULL DEFAULT 0,
    self_care_items  INTEGER NOT NULL DEFAULT 0,
    student          TEXT NOT NULL DEFAULT 'none',
    serious_illness  BOOLEAN NOT NULL DEFAULT FALSE,
    able_to_work     BOOLEAN NOT NULL DEFAULT TRUE,
    status           TEXT NOT NULL DEFAULT 'active',
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX persons_household ON persons(household_id);
CREATE INDEX persons_region_name ON persons(region_code, name);
CREATE INDEX persons_name ON persons(name);

CREATE TABLE bank_accounts (
    id             INTEGER PRIMARY KEY,
    person_id      BIGINT NOT NULL REFERENCES persons(id),
    bank_code      TEXT NOT NULL,
    bank_name      TEXT NOT NULL,
    account_enc    TEXT NOT NULL,
    account_masked TEXT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX bank_accounts_person ON bank_accounts(person_id);

CREATE TABLE supporters (
    id                  INTEGER PRIMARY KEY,
    household_id        BIGINT NOT NULL REFERENCES households(id),
    name                TEXT NOT NULL,
    id_hmac             TEXT NOT NULL DEFAULT '',
    id_enc              TEXT NOT NULL DEFAULT '',
    id_masked           TEXT NOT NULL DEFAULT '',
    relation            TEXT NOT NULL,
    birth_date          TEXT NOT NULL,
    address             TEXT NOT NULL DEFAULT '',
    on_dibao            BOOLEAN NOT NULL DEFAULT FALSE,
    on_tekun            BOOLEAN NOT NULL DEFAULT FALSE,
    disability_kind     TEXT NOT NULL DEFAULT '',
    disability_level    INTEGER NOT NULL DEFAULT 0,
    monthly_income_fen  BIGINT NOT NULL DEFAULT 0,
    assets_within_rules BOOLEAN NOT NULL DEFAULT TRUE,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          TIMESTAMP NOT NULL
);
CREATE INDEX supporters_household ON supporters(household_id);

-- every registry change, dated, with who and why
CREATE TABLE registry_history (
    id           INTEGER PRIMARY KEY,
    at           TIMESTAMP NOT NULL,
    user_id      BIGINT,
    username     TEXT NOT NULL,
    household_id BIGINT,
    person_id    BIGINT,
    region_code  TEXT NOT NULL,
    op           TEXT NOT NULL,
    reason       TEXT NOT NULL,
    before_json  TEXT NOT NULL,
    after_json   TEXT NOT NULL
);
CREATE INDEX registry_history_household ON registry_history(household_id, at);
CREATE INDEX registry_history_person ON registry_history(person_id, at);
CREATE INDEX registry_history_region ON registry_history(region_code, id);
