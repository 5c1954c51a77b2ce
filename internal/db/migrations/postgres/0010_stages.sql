-- one approval paid in stages (一次审批、分阶段救助, LS-03): a temporary grant
-- approved once and paid over this many consecutive monthly runs.
ALTER TABLE cases ADD COLUMN stages INTEGER NOT NULL DEFAULT 1;
