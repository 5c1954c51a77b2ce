-- online applications (DB-04: "the application may be made online"): a public
-- form, documents sealed with SM4, a tracking number and a query code (kept as
-- a keyed hash only); the ID number as keyed hash, SM4-sealed and masked.
CREATE TABLE online_applications (
    id          INTEGER PRIMARY KEY,
    app_no      TEXT NOT NULL UNIQUE,
    code_hmac   TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions(code),
    programme   TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    id_hmac     TEXT NOT NULL,
    id_enc      TEXT NOT NULL,
    id_masked   TEXT NOT NULL,
    phone       TEXT NOT NULL,
    members     INTEGER NOT NULL,
    statement   TEXT NOT NULL,
    pledge      BOOLEAN NOT NULL,
    consent     BOOLEAN NOT NULL,
    status      TEXT NOT NULL,
    missing     TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    case_id     BIGINT REFERENCES cases(id),
    handled_by  TEXT NOT NULL DEFAULT '',
    handled_at  TIMESTAMP,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX online_applications_region ON online_applications(region_code, status);
CREATE INDEX online_applications_id ON online_applications(id_hmac);

CREATE TABLE online_documents (
    id             INTEGER PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES online_applications(id),
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sealed         BLOB NOT NULL,
    added_at       TIMESTAMP NOT NULL
);
CREATE INDEX online_documents_application ON online_documents(application_id, id);
