-- policy: every dated parameter value, as loaded from policy/*.yaml (source
-- 'yaml', the approved baseline) or scheduled by an administrator (source
-- 'schedule'). Values are never edited: a changed figure is a new row. A
-- scheduled row moves once from 'scheduled' to 'approved' or 'rejected',
-- decided by a second person; the audit log keeps every step.
CREATE TABLE policy_values (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    region         TEXT NOT NULL,
    start_date     TEXT NOT NULL,
    value          TEXT NOT NULL,
    unit           TEXT NOT NULL,
    reference      TEXT NOT NULL,
    demo           BOOLEAN NOT NULL DEFAULT FALSE,
    note           TEXT NOT NULL DEFAULT '',
    source         TEXT NOT NULL,
    status         TEXT NOT NULL,
    proposed_by    TEXT NOT NULL,
    proposed_by_id BIGINT,
    decided_by     TEXT NOT NULL DEFAULT '',
    decided_by_id  BIGINT,
    decided_at     TIMESTAMP,
    decision_note  TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX policy_values_name ON policy_values(name, region, start_date);
CREATE INDEX policy_values_status ON policy_values(status, id);
-- At most one live proposal or approved schedule per parameter, region and start,
-- even when two administrators submit at the same moment.
CREATE UNIQUE INDEX policy_values_live ON policy_values(name, region, start_date) WHERE source = 'schedule' AND status <> 'rejected';

-- registry (finance): the incomes and assets the calculators read. They belong
-- to the registry package (internal/registry/finance.go) and sit in this
-- migration because the policy work introduced them. A changed income is a new
-- row with its own since date; the latest row per person and kind holds.
CREATE TABLE person_incomes (
    id          INTEGER PRIMARY KEY,
    person_id   BIGINT NOT NULL REFERENCES persons(id),
    kind        TEXT NOT NULL,
    monthly_fen BIGINT NOT NULL,
    since       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX person_incomes_person ON person_incomes(person_id, kind, since);

CREATE TABLE household_assets (
    id           INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households(id),
    kind         TEXT NOT NULL,
    value_fen    BIGINT NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX household_assets_household ON household_assets(household_id);
