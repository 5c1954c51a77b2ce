-- proactive discovery (issue #8): department events, the rule runs that turn
-- them into the townships' "should help" and "should review or stop" lists,
-- and the other registries (poverty alleviation, trade union) matched with
-- the assistance registry. ID numbers are kept only hashed, sealed and masked.
CREATE TABLE discovery_imports (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    via         TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    bad_rows    BIGINT NOT NULL,
    stored      BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL,
    ignored     BIGINT NOT NULL,
    unmatched   BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    message     TEXT NOT NULL,
    report      TEXT NOT NULL,
    region_code TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX discovery_imports_at ON discovery_imports(region_code, at);

CREATE TABLE discovery_events (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    event_key    TEXT NOT NULL UNIQUE,
    id_hmac      TEXT NOT NULL,
    id_enc       TEXT NOT NULL,
    id_masked    TEXT NOT NULL,
    event_date   TEXT NOT NULL,
    source       TEXT NOT NULL,
    amount_fen   BIGINT NOT NULL DEFAULT 0,
    attr         TEXT NOT NULL DEFAULT '',
    detail_enc   TEXT NOT NULL DEFAULT '',
    person_id    BIGINT,
    household_id BIGINT,
    region_code  TEXT NOT NULL,
    import_id    BIGINT,
    received_at  TIMESTAMP NOT NULL
);
CREATE INDEX discovery_events_date ON discovery_events(event_date, kind);
CREATE INDEX discovery_events_hmac ON discovery_events(id_hmac);
CREATE INDEX discovery_events_person ON discovery_events(person_id);
CREATE INDEX discovery_events_region ON discovery_events(region_code, kind);

-- the low-income line per county and hukou used by a run (dibao standard
-- times the marginal multiple), resolved from the dated parameters
CREATE TABLE discovery_lines (
    county_code TEXT NOT NULL,
    hukou       TEXT NOT NULL,
    line_fen    BIGINT NOT NULL,
    PRIMARY KEY (county_code, hukou)
);

CREATE TABLE discovery_runs (
    id          INTEGER PRIMARY KEY,
    since       TEXT NOT NULL,
    status      TEXT NOT NULL,
    found       BIGINT NOT NULL DEFAULT 0,
    linked      BIGINT NOT NULL DEFAULT 0,
    summary     TEXT NOT NULL DEFAULT '',
    started_by  TEXT NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

CREATE TABLE discovery_items (
    id             INTEGER PRIMARY KEY,
    list           TEXT NOT NULL,
    rule           TEXT NOT NULL,
    event_id       BIGINT NOT NULL REFERENCES discovery_events(id),
    household_id   BIGINT NOT NULL REFERENCES households(id),
    person_id      BIGINT NOT NULL REFERENCES persons(id),
    entitlement_id BIGINT,
    programme      TEXT NOT NULL DEFAULT '',
    region_code    TEXT NOT NULL,
    township_code  TEXT NOT NULL,
    county_code    TEXT NOT NULL,
    event_date     TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL DEFAULT 0,
    ref_fen        BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL DEFAULT 'open',
    case_id        BIGINT,
    note           TEXT NOT NULL DEFAULT '',
    worked_by      TEXT NOT NULL DEFAULT '',
    worked_at      TIMESTAMP,
    run_id         BIGINT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    UNIQUE (rule, event_id)
);
CREATE INDEX discovery_items_township ON discovery_items(township_code, list, status);
CREATE INDEX discovery_items_county ON discovery_items(county_code, list, status);
CREATE INDEX discovery_items_household ON discovery_items(household_id);

-- other registries: one current list per registry, every entry matched by hash
CREATE TABLE linkage_runs (
    id          INTEGER PRIMARY KEY,
    registry    TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    bad_rows    BIGINT NOT NULL,
    matched     BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    message     TEXT NOT NULL,
    report      TEXT NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    imported_by TEXT NOT NULL,
    region_code TEXT NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX linkage_runs_registry ON linkage_runs(registry, is_current);

CREATE TABLE linkage_entries (
    id           INTEGER PRIMARY KEY,
    run_id       BIGINT NOT NULL REFERENCES linkage_runs(id),
    id_hmac      TEXT NOT NULL,
    id_enc       TEXT NOT NULL,
    id_masked    TEXT NOT NULL,
    name         TEXT NOT NULL,
    region_code  TEXT NOT NULL,
    category     TEXT NOT NULL,
    detail_enc   TEXT NOT NULL DEFAULT '',
    person_id    BIGINT,
    household_id BIGINT,
    UNIQUE (run_id, id_hmac)
);
CREATE INDEX linkage_entries_hmac ON linkage_entries(id_hmac);
CREATE INDEX linkage_entries_region ON linkage_entries(run_id, region_code);
CREATE INDEX linkage_entries_household ON linkage_entries(household_id);
