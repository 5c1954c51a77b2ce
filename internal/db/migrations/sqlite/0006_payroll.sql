-- payroll (DESIGN.md §7): monthly runs per county, payment lines, bank files,
-- return files, funds, township reserve funds and recoveries.
CREATE TABLE payroll_runs (
    id              INTEGER PRIMARY KEY,
    month           TEXT NOT NULL,
    county_code     TEXT NOT NULL REFERENCES regions(code),
    state           TEXT NOT NULL,
    checkpoint      BIGINT NOT NULL DEFAULT 0,
    batches         INTEGER NOT NULL DEFAULT 0,
    lines           BIGINT NOT NULL DEFAULT 0,
    total_fen       BIGINT NOT NULL DEFAULT 0,
    made_by         TEXT NOT NULL,
    made_by_id      BIGINT,
    checked_by      TEXT NOT NULL DEFAULT '',
    checked_by_id   BIGINT,
    check_note      TEXT NOT NULL DEFAULT '',
    override_reason TEXT NOT NULL DEFAULT '',
    started_at      TIMESTAMP NOT NULL,
    built_at        TIMESTAMP,
    checked_at      TIMESTAMP,
    version         INTEGER NOT NULL DEFAULT 1,
    UNIQUE (month, county_code)
);

CREATE TABLE payment_lines (
    id              INTEGER PRIMARY KEY,
    run_id          BIGINT NOT NULL REFERENCES payroll_runs(id),
    month           TEXT NOT NULL,
    region_code     TEXT NOT NULL,
    person_id       BIGINT NOT NULL,
    household_id    BIGINT NOT NULL,
    case_id         BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    slot            BIGINT NOT NULL DEFAULT 0,
    amount_fen      BIGINT NOT NULL,
    offset_fen      BIGINT NOT NULL DEFAULT 0,
    bank_account_id BIGINT,
    status          TEXT NOT NULL DEFAULT 'pending',
    fail_reason     TEXT NOT NULL DEFAULT '',
    bank_file_id    BIGINT,
    reissue_of      BIGINT,
    note            TEXT NOT NULL DEFAULT ''
);
-- one line per month, beneficiary and programme (one-off grants and re-issues
-- carry their case or original line in slot): a rerun can never pay twice
CREATE UNIQUE INDEX payment_lines_once ON payment_lines(month, person_id, programme, kind, slot);
CREATE UNIQUE INDEX payment_lines_oneoff ON payment_lines(case_id, month) WHERE kind = 'oneoff';
CREATE UNIQUE INDEX payment_lines_reissue ON payment_lines(reissue_of) WHERE reissue_of IS NOT NULL;
CREATE INDEX payment_lines_run ON payment_lines(run_id, id);
CREATE INDEX payment_lines_case ON payment_lines(case_id, month);
CREATE INDEX payment_lines_file ON payment_lines(bank_file_id, id);

CREATE TABLE bank_layouts (
    bank_code   TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE bank_files (
    id          INTEGER PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES payroll_runs(id),
    bank_code   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    lines       BIGINT NOT NULL,
    total_fen   BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (run_id, bank_code)
);

CREATE TABLE bank_returns (
    id           INTEGER PRIMARY KEY,
    bank_file_id BIGINT NOT NULL REFERENCES bank_files(id),
    file_name    TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    paid         BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    username     TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL
);

-- funds allocated per county, programme and year (purchased_services is the
-- budget line for purchased services, capped at 2% of assistance funds)
CREATE TABLE fund_allocations (
    id          INTEGER PRIMARY KEY,
    county_code TEXT NOT NULL REFERENCES regions(code),
    programme   TEXT NOT NULL,
    year        INTEGER NOT NULL,
    amount_fen  BIGINT NOT NULL,
    reference   TEXT NOT NULL,
    username    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX fund_allocations_county ON fund_allocations(county_code, year, programme);

CREATE TABLE fund_spending (
    id          INTEGER PRIMARY KEY,
    county_code TEXT NOT NULL REFERENCES regions(code),
    programme   TEXT NOT NULL,
    year        INTEGER NOT NULL,
    amount_fen  BIGINT NOT NULL,
    run_id      BIGINT,
    reference   TEXT NOT NULL,
    username    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX fund_spending_county ON fund_spending(county_code, year, programme);
CREATE UNIQUE INDEX fund_spending_run ON fund_spending(run_id, programme) WHERE run_id IS NOT NULL;

-- the township reserve fund for emergency assistance (LS-03/LS-04): signed entries
CREATE TABLE reserve_entries (
    id            INTEGER PRIMARY KEY,
    township_code TEXT NOT NULL REFERENCES regions(code),
    kind          TEXT NOT NULL,
    amount_fen    BIGINT NOT NULL,
    case_id       BIGINT,
    reference     TEXT NOT NULL,
    username      TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX reserve_entries_township ON reserve_entries(township_code, id);
CREATE UNIQUE INDEX reserve_entries_once ON reserve_entries(kind, case_id) WHERE case_id IS NOT NULL;

-- recoveries of wrong payments (DB-44)
CREATE TABLE recoveries (
    id              INTEGER PRIMARY KEY,
    county_code     TEXT NOT NULL REFERENCES regions(code),
    region_code     TEXT NOT NULL,
    person_id       BIGINT NOT NULL REFERENCES persons(id),
    case_id         BIGINT,
    reason          TEXT NOT NULL,
    amount_due_fen  BIGINT NOT NULL,
    fine_fen        BIGINT NOT NULL DEFAULT 0,
    allow_offset    BOOLEAN NOT NULL DEFAULT FALSE,
    offset_max_fen  BIGINT NOT NULL DEFAULT 0,
    state           TEXT NOT NULL,
    writeoff_by     TEXT NOT NULL DEFAULT '',
    writeoff_reason TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX recoveries_county ON recoveries(county_code, state);
CREATE INDEX recoveries_person ON recoveries(person_id);

CREATE TABLE recovery_entries (
    id          INTEGER PRIMARY KEY,
    recovery_id BIGINT NOT NULL REFERENCES recoveries(id),
    kind        TEXT NOT NULL,
    amount_fen  BIGINT NOT NULL,
    line_id     BIGINT,
    reference   TEXT NOT NULL,
    username    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX recovery_entries_recovery ON recovery_entries(recovery_id, id);
CREATE UNIQUE INDEX recovery_entries_line ON recovery_entries(line_id) WHERE line_id IS NOT NULL;

-- entitlements a run could not turn into a line (a second approved case of the
-- same programme for the same person), for the approver to resolve
CREATE TABLE payroll_exceptions (
    id          INTEGER PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES payroll_runs(id),
    case_id     BIGINT NOT NULL,
    person_id   BIGINT NOT NULL,
    programme   TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX payroll_exceptions_run ON payroll_exceptions(run_id);

-- keyset batches of a county's approved cases in id order
CREATE INDEX cases_payroll ON cases(SUBSTR(region_code, 1, 6), id) WHERE decision = 'approved';
