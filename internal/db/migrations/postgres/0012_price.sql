-- price-linkage subsidy (domain.md §7): the province's monthly price indices,
-- and the per-person rate each payroll run took from them, per hukou and
-- covered programme, with the reasoning shown to the checker.
CREATE TABLE price_indices (
    month       TEXT PRIMARY KEY,
    cpi_bp      INTEGER NOT NULL,
    food_bp     INTEGER NOT NULL,
    released_on TEXT NOT NULL,
    entered_by  TEXT NOT NULL,
    entered_at  TIMESTAMP NOT NULL
);

CREATE TABLE payroll_price_rates (
    run_id         BIGINT NOT NULL REFERENCES payroll_runs(id),
    hukou          TEXT NOT NULL,
    programme      TEXT NOT NULL,
    index_month    TEXT NOT NULL,
    per_person_fen BIGINT NOT NULL,
    basis          TEXT NOT NULL,
    PRIMARY KEY (run_id, hukou, programme)
);
