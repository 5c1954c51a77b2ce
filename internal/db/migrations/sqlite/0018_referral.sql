-- referrals (issue #9 items 1 and 2): a county's list of member departments and
-- charities with the areas of help each serves, the partner users bound to
-- them, a household's needs in the eight areas, and the referral of each need
-- to an organisation until it is answered and closed with an outcome.
CREATE TABLE referral_orgs (
    id            INTEGER PRIMARY KEY,
    county_code   TEXT NOT NULL REFERENCES regions(code),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    department    TEXT NOT NULL DEFAULT '',
    contact_name  TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    answer_days   INTEGER NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (county_code, name)
);

CREATE TABLE referral_org_areas (
    org_id BIGINT NOT NULL REFERENCES referral_orgs(id),
    area   TEXT NOT NULL,
    PRIMARY KEY (org_id, area)
);

-- a partner officer belongs to exactly one organisation
CREATE TABLE referral_org_users (
    user_id  BIGINT PRIMARY KEY REFERENCES users(id),
    org_id   BIGINT NOT NULL REFERENCES referral_orgs(id),
    bound_by TEXT NOT NULL,
    bound_at TIMESTAMP NOT NULL
);
CREATE INDEX referral_org_users_org ON referral_org_users(org_id);

CREATE TABLE referral_needs (
    id             INTEGER PRIMARY KEY,
    household_id   BIGINT NOT NULL REFERENCES households(id),
    region_code    TEXT NOT NULL REFERENCES regions(code),
    area           TEXT NOT NULL,
    description    TEXT NOT NULL,
    stage          TEXT NOT NULL,
    person_id      BIGINT REFERENCES persons(id),
    case_id        BIGINT REFERENCES cases(id),
    recorded_by    TEXT NOT NULL,
    recorded_by_id BIGINT,
    recorded_on    TEXT NOT NULL,
    recorded_at    TIMESTAMP NOT NULL
);
CREATE INDEX referral_needs_household ON referral_needs(household_id, id);
CREATE INDEX referral_needs_region ON referral_needs(region_code);

CREATE TABLE referrals (
    id             INTEGER PRIMARY KEY,
    need_id        BIGINT NOT NULL REFERENCES referral_needs(id),
    household_id   BIGINT NOT NULL REFERENCES households(id),
    region_code    TEXT NOT NULL REFERENCES regions(code),
    area           TEXT NOT NULL,
    org_id         BIGINT NOT NULL REFERENCES referral_orgs(id),
    state          TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    sent_on        TEXT NOT NULL,
    due_on         TEXT NOT NULL,
    sent_by        TEXT NOT NULL,
    sent_at        TIMESTAMP NOT NULL,
    answered_on    TEXT NOT NULL DEFAULT '',
    answered_by    TEXT NOT NULL DEFAULT '',
    closed_on      TEXT NOT NULL DEFAULT '',
    closed_by      TEXT NOT NULL DEFAULT '',
    outcome        TEXT NOT NULL DEFAULT '',
    outcome_note   TEXT NOT NULL DEFAULT '',
    amount_fen     BIGINT NOT NULL DEFAULT 0,
    decline_reason TEXT NOT NULL DEFAULT '',
    previous_id    BIGINT,
    version        INTEGER NOT NULL DEFAULT 1,
    updated_at     TIMESTAMP NOT NULL
);
-- one referral in hand per need at a time; a declined one may be re-referred
CREATE UNIQUE INDEX referrals_need_open ON referrals(need_id) WHERE state IN ('sent', 'accepted');
CREATE INDEX referrals_org ON referrals(org_id, state);
CREATE INDEX referrals_region ON referrals(region_code, state);
CREATE INDEX referrals_household ON referrals(household_id);
CREATE INDEX referrals_sent ON referrals(sent_on);
