-- casework: one row per application, every step an event row.
CREATE TABLE cases (
    id             INTEGER PRIMARY KEY,
    case_no        TEXT NOT NULL UNIQUE,
    programme      TEXT NOT NULL,
    rule_version   TEXT NOT NULL,
    kind           TEXT NOT NULL DEFAULT '',
    household_id   BIGINT NOT NULL REFERENCES households(id),
    applicant_id   BIGINT NOT NULL REFERENCES persons(id),
    region_code    TEXT NOT NULL REFERENCES regions(code),
    channel        TEXT NOT NULL,
    state          TEXT NOT NULL,
    due_on         TEXT NOT NULL DEFAULT '',
    accepted_on    TEXT NOT NULL,
    close_relative BOOLEAN NOT NULL DEFAULT FALSE,
    complaint      BOOLEAN NOT NULL DEFAULT FALSE,
    spot_check     BOOLEAN NOT NULL DEFAULT FALSE,
    special        BOOLEAN NOT NULL DEFAULT FALSE,
    notice_from    TEXT NOT NULL DEFAULT '',
    notice_to      TEXT NOT NULL DEFAULT '',
    requested_fen  BIGINT NOT NULL DEFAULT 0,
    amount_fen     BIGINT NOT NULL DEFAULT 0,
    advance_fen    BIGINT NOT NULL DEFAULT 0,
    decision       TEXT NOT NULL DEFAULT '',
    decided_on     TEXT NOT NULL DEFAULT '',
    pay_from       TEXT NOT NULL DEFAULT '',
    assessment     TEXT NOT NULL DEFAULT '',
    missing        TEXT NOT NULL DEFAULT '',
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX cases_worklist ON cases(region_code, due_on);
CREATE INDEX cases_household ON cases(household_id);
CREATE INDEX cases_state ON cases(state, due_on);

CREATE TABLE case_events (
    id          INTEGER PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases(id),
    at          TIMESTAMP NOT NULL,
    on_date     TEXT NOT NULL,
    user_id     BIGINT,
    username    TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    late        BOOLEAN NOT NULL DEFAULT FALSE,
    reason      TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events(case_id, id);

-- close relatives of staff and village cadres (DB-09), matched by the keyed ID hash
CREATE TABLE staff_relatives (
    id            INTEGER PRIMARY KEY,
    region_code   TEXT NOT NULL REFERENCES regions(code),
    relative_hmac TEXT NOT NULL,
    relative_name TEXT NOT NULL,
    staff_name    TEXT NOT NULL,
    staff_post    TEXT NOT NULL,
    relation      TEXT NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    registered_by TEXT NOT NULL
);
CREATE INDEX staff_relatives_hmac ON staff_relatives(relative_hmac);
