-- dynamic management (DB-37..DB-46, TK-10, TK-13) and appeals (DB-13, DB-45, HD-07).
-- A review, a self-care re-assessment or a re-check is a case row of its own
-- (purpose) tied to the entitlement it reviews (parent_id); an approved case
-- carries its review schedule.
ALTER TABLE cases ADD COLUMN purpose TEXT NOT NULL DEFAULT 'application';
ALTER TABLE cases ADD COLUMN parent_id BIGINT REFERENCES cases(id);
ALTER TABLE cases ADD COLUMN review_cycle TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN next_review_on TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN prev_amount_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN exit_months INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN stop_from TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN referral TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_parent ON cases(parent_id);
CREATE INDEX cases_review_due ON cases(state, next_review_on);

-- changes reported by households, villages or data matching (DB-37, DB-41, DB-43, TK-10)
CREATE TABLE change_reports (
    id             INTEGER PRIMARY KEY,
    case_id        BIGINT NOT NULL REFERENCES cases(id),
    household_id   BIGINT NOT NULL REFERENCES households(id),
    region_code    TEXT NOT NULL REFERENCES regions(code),
    person_id      BIGINT REFERENCES persons(id),
    kind           TEXT NOT NULL,
    reported_by    TEXT NOT NULL,
    changed_on     TEXT NOT NULL,
    reported_on    TEXT NOT NULL,
    details        TEXT NOT NULL,
    warning        TEXT NOT NULL DEFAULT '',
    review_case_id BIGINT REFERENCES cases(id),
    username       TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX change_reports_case ON change_reports(case_id, id);

-- suitable job offers and their answers (DB-42)
CREATE TABLE job_offers (
    id          INTEGER PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases(id),
    person_id   BIGINT NOT NULL REFERENCES persons(id),
    offered_on  TEXT NOT NULL,
    job         TEXT NOT NULL,
    answer      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    username    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX job_offers_case ON job_offers(case_id, person_id, id);

-- objections, administrative reviews and lawsuits, never overwritten
CREATE TABLE appeals (
    id               INTEGER PRIMARY KEY,
    case_id          BIGINT NOT NULL REFERENCES cases(id),
    kind             TEXT NOT NULL,
    filed_on         TEXT NOT NULL,
    evidence         TEXT NOT NULL,
    from_state       TEXT NOT NULL,
    outcome          TEXT NOT NULL DEFAULT '',
    document_no      TEXT NOT NULL DEFAULT '',
    decided_on       TEXT NOT NULL DEFAULT '',
    amount_before    BIGINT NOT NULL DEFAULT 0,
    amount_after     BIGINT NOT NULL DEFAULT 0,
    username         TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX appeals_case ON appeals(case_id, id);

-- every change of an entitlement's monthly amount, with the month it takes effect
CREATE TABLE entitlement_changes (
    id            INTEGER PRIMARY KEY,
    case_id       BIGINT NOT NULL REFERENCES cases(id),
    effective_from TEXT NOT NULL,
    amount_before BIGINT NOT NULL,
    amount_after  BIGINT NOT NULL,
    source        TEXT NOT NULL,
    source_ref    TEXT NOT NULL,
    decided_on    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX entitlement_changes_case ON entitlement_changes(case_id, id);
