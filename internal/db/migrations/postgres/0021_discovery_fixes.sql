-- discovery fixes: a linkage list is current per registry and region. scope
-- is the code prefix of the region the run was uploaded for (region.ScopePrefix
-- of region_code); a new run retires only the runs whose scope lies within its
-- own, and an entry belongs to the list in force unless a later current run
-- covers its region.
ALTER TABLE linkage_runs ADD COLUMN scope TEXT NOT NULL DEFAULT '';
UPDATE linkage_runs SET scope = CASE
    WHEN SUBSTR(region_code, 3) = '0000000000' THEN SUBSTR(region_code, 1, 2)
    WHEN SUBSTR(region_code, 5) = '00000000' THEN SUBSTR(region_code, 1, 4)
    WHEN SUBSTR(region_code, 7) = '000000' THEN SUBSTR(region_code, 1, 6)
    WHEN SUBSTR(region_code, 10) = '000' THEN SUBSTR(region_code, 1, 9)
    ELSE region_code END;
CREATE INDEX linkage_runs_scope ON linkage_runs(registry, is_current, scope);
