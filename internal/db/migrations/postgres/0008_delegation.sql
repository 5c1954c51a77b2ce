-- where a county has delegated approval to the township (DB-31), or a temporary
-- grant lies within the township's limit, the township decides the case.
ALTER TABLE cases ADD COLUMN delegated BOOLEAN NOT NULL DEFAULT FALSE;
