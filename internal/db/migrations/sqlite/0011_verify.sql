-- economic verification (DESIGN.md §6, domain.md §4). Extract rows live in
-- hashed files in the extract store; the database keeps which extract of a
-- source is in force, every import attempt with its row report,
-- authorisations, requests with their sealed reports, batch re-checks and
-- the tasks they raise.
CREATE TABLE verify_extracts (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    provider    TEXT NOT NULL DEFAULT '',
    data_date   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    stored      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    persons     BIGINT NOT NULL,
    status      TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL
);
CREATE INDEX verify_extracts_source ON verify_extracts(source, provider, status);
CREATE UNIQUE INDEX verify_extracts_current ON verify_extracts(source, provider) WHERE status = 'current';

CREATE TABLE verify_imports (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    provider    TEXT NOT NULL DEFAULT '',
    data_date   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    bad_rows    BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    message     TEXT NOT NULL,
    report      TEXT NOT NULL,
    extract_id  BIGINT,
    imported_by TEXT NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX verify_imports_at ON verify_imports(at);

CREATE TABLE verify_authorisations (
    id            INTEGER PRIMARY KEY,
    household_id  BIGINT NOT NULL REFERENCES households(id),
    person_id     BIGINT NOT NULL REFERENCES persons(id),
    guardian_name TEXT NOT NULL DEFAULT '',
    programme     TEXT NOT NULL,
    signed_on     TEXT NOT NULL,
    fingerprint   BOOLEAN NOT NULL,
    ended_on      TEXT NOT NULL DEFAULT '',
    ended_reason  TEXT NOT NULL DEFAULT '',
    recorded_by   TEXT NOT NULL,
    recorded_at   TIMESTAMP NOT NULL
);
CREATE INDEX verify_authorisations_household ON verify_authorisations(household_id);

CREATE TABLE verify_requests (
    id            INTEGER PRIMARY KEY,
    request_no    TEXT NOT NULL UNIQUE,
    household_id  BIGINT NOT NULL REFERENCES households(id),
    case_id       BIGINT,
    region_code   TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    parent_id     BIGINT,
    evidence      TEXT NOT NULL DEFAULT '',
    requested_by  TEXT NOT NULL,
    requested_at  TIMESTAMP NOT NULL,
    findings      INTEGER NOT NULL,
    report_enc    TEXT NOT NULL
);
CREATE INDEX verify_requests_household ON verify_requests(household_id);
CREATE INDEX verify_requests_region ON verify_requests(region_code, requested_at);

CREATE TABLE verify_batches (
    id          INTEGER PRIMARY KEY,
    sources     TEXT NOT NULL,
    extracts    TEXT NOT NULL,
    status      TEXT NOT NULL,
    checkpoint  TEXT NOT NULL DEFAULT '',
    recipients  BIGINT NOT NULL DEFAULT 0,
    scanned     BIGINT NOT NULL DEFAULT 0,
    matched     BIGINT NOT NULL DEFAULT 0,
    tasks       BIGINT NOT NULL DEFAULT 0,
    summary     TEXT NOT NULL DEFAULT '',
    scope       TEXT NOT NULL,
    started_by  TEXT NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

CREATE TABLE verify_tasks (
    id            INTEGER PRIMARY KEY,
    batch_id      BIGINT NOT NULL REFERENCES verify_batches(id),
    household_id  BIGINT NOT NULL REFERENCES households(id),
    region_code   TEXT NOT NULL,
    county_code   TEXT NOT NULL,
    case_id       BIGINT,
    kind          TEXT NOT NULL,
    sources       TEXT NOT NULL,
    evidence_enc  TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open',
    outcome       TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    closed_by     TEXT NOT NULL DEFAULT '',
    closed_at     TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    UNIQUE (batch_id, household_id, kind)
);
CREATE INDEX verify_tasks_region ON verify_tasks(region_code, status);
CREATE INDEX verify_tasks_household ON verify_tasks(household_id, kind, status);

-- requests from other counties or provinces to check someone registered here
CREATE TABLE verify_peer_requests (
    id            INTEGER PRIMARY KEY,
    region_code   TEXT NOT NULL,
    peer          TEXT NOT NULL,
    peer_ref      TEXT NOT NULL,
    subject_hmac  TEXT NOT NULL,
    subject_masked TEXT NOT NULL,
    subject_name  TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    authorisation TEXT NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    due_on        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open',
    answer        TEXT NOT NULL DEFAULT '',
    answered_by   TEXT NOT NULL DEFAULT '',
    answered_at   TIMESTAMP
);
CREATE INDEX verify_peer_requests_region ON verify_peer_requests(region_code, status);
