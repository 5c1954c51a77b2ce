-- institutions (issue #7 parts 4 and 5): support institutions with their beds,
-- star ratings and inspections; centralised placements of people in beds; the
-- staffing of civil-affairs offices and the province's staffing ratio.
CREATE TABLE institutions (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions(code),
    address     TEXT NOT NULL DEFAULT '',
    operator    TEXT NOT NULL,
    capacity    INTEGER NOT NULL DEFAULT 0,
    carers      INTEGER NOT NULL DEFAULT 0,
    medical     INTEGER NOT NULL DEFAULT 0,
    other_staff INTEGER NOT NULL DEFAULT 0,
    opened_on   TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open',
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (region_code, name)
);
CREATE INDEX institutions_region ON institutions(region_code, kind);

CREATE TABLE institution_beds (
    id             INTEGER PRIMARY KEY,
    institution_id BIGINT NOT NULL REFERENCES institutions(id),
    bed_no         TEXT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (institution_id, bed_no)
);

-- star ratings (敬老院星级评定): history, the latest by rated_on is current
CREATE TABLE institution_ratings (
    id             INTEGER PRIMARY KEY,
    institution_id BIGINT NOT NULL REFERENCES institutions(id),
    stars          INTEGER NOT NULL,
    rated_on       TEXT NOT NULL,
    assessor       TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    recorded_by    TEXT NOT NULL,
    recorded_at    TIMESTAMP NOT NULL
);
CREATE INDEX institution_ratings_inst ON institution_ratings(institution_id, rated_on);

-- inspections and their rectification
CREATE TABLE institution_inspections (
    id             INTEGER PRIMARY KEY,
    institution_id BIGINT NOT NULL REFERENCES institutions(id),
    inspected_on   TEXT NOT NULL,
    inspector      TEXT NOT NULL,
    findings       TEXT NOT NULL,
    result         TEXT NOT NULL,
    deadline       TEXT NOT NULL DEFAULT '',
    closed_on      TEXT NOT NULL DEFAULT '',
    closure_note   TEXT NOT NULL DEFAULT '',
    closed_by      TEXT NOT NULL DEFAULT '',
    recorded_by    TEXT NOT NULL,
    recorded_at    TIMESTAMP NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX institution_inspections_inst ON institution_inspections(institution_id, inspected_on);

-- centralised placements: a person in a bed from admitted_on until ended_on;
-- a transfer ends one row and opens the next (transferred_from)
CREATE TABLE placements (
    id               INTEGER PRIMARY KEY,
    institution_id   BIGINT NOT NULL REFERENCES institutions(id),
    bed_id           BIGINT NOT NULL REFERENCES institution_beds(id),
    person_id        BIGINT NOT NULL REFERENCES persons(id),
    case_id          BIGINT,
    region_code      TEXT NOT NULL,
    admitted_on      TEXT NOT NULL,
    admitted_by      TEXT NOT NULL,
    admit_note       TEXT NOT NULL DEFAULT '',
    transferred_from BIGINT,
    ended_on         TEXT NOT NULL DEFAULT '',
    end_kind         TEXT NOT NULL DEFAULT '',
    end_reason       TEXT NOT NULL DEFAULT '',
    ended_by         TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL
);
-- one current occupant per bed and one current bed per person
CREATE UNIQUE INDEX placements_bed_current ON placements(bed_id) WHERE ended_on = '';
CREATE UNIQUE INDEX placements_person_current ON placements(person_id) WHERE ended_on = '';
CREATE INDEX placements_institution ON placements(institution_id, ended_on);
CREATE INDEX placements_person ON placements(person_id, id);

-- staffing of each civil-affairs office (county bureau, township office), dated
CREATE TABLE office_staff (
    id                INTEGER PRIMARY KEY,
    region_code       TEXT NOT NULL REFERENCES regions(code),
    as_of             TEXT NOT NULL,
    civil_servants    INTEGER NOT NULL DEFAULT 0,
    career_staff      INTEGER NOT NULL DEFAULT 0,
    purchased_workers INTEGER NOT NULL DEFAULT 0,
    note              TEXT NOT NULL DEFAULT '',
    recorded_by       TEXT NOT NULL,
    recorded_at       TIMESTAMP NOT NULL
);
CREATE INDEX office_staff_region ON office_staff(region_code, as_of);

-- the province's staffing ratio (recipient households per worker), dated
CREATE TABLE capacity_settings (
    id                    INTEGER PRIMARY KEY,
    province_code         TEXT NOT NULL REFERENCES regions(code),
    recipients_per_worker INTEGER NOT NULL,
    start_on              TEXT NOT NULL,
    reference             TEXT NOT NULL,
    recorded_by           TEXT NOT NULL,
    recorded_at           TIMESTAMP NOT NULL
);
CREATE INDEX capacity_settings_province ON capacity_settings(province_code, start_on);
