-- registry import (issue #7): every uploaded spreadsheet of households and
-- members, kept sealed (SM4, like ID numbers) with its check report, from
-- preview to commit. token is what the uploader commits with; status is
-- previewed, committed, refused (problems at preview or at the commit's
-- re-check) or expired (not committed within 24 hours).
CREATE TABLE registry_imports (
    id           INTEGER PRIMARY KEY,
    token        TEXT NOT NULL UNIQUE,
    file_name    TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    body_enc     TEXT NOT NULL,
    layout       TEXT NOT NULL,
    uploader_id  BIGINT,
    uploader     TEXT NOT NULL,
    region_code  TEXT NOT NULL,
    status       TEXT NOT NULL,
    rows         BIGINT NOT NULL,
    bad_rows     BIGINT NOT NULL,
    households   BIGINT NOT NULL,
    persons      BIGINT NOT NULL,
    message      TEXT NOT NULL,
    report       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    committed_at TIMESTAMP
);
CREATE INDEX registry_imports_uploader ON registry_imports(uploader, id);
