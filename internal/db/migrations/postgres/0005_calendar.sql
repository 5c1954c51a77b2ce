-- working-day calendar: official arrangements entered by administrators for
-- years after those the binary carries (the State Council's notice, usually in November).
CREATE TABLE calendar_days (
    day         TEXT PRIMARY KEY,
    notice_year INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    entered_by  TEXT NOT NULL,
    entered_at  TIMESTAMP NOT NULL
);
