-- worklists: an office's open cases by deadline. The scope of a county or a
-- township is the first 6 or 9 digits of the region code, so these partial
-- indexes give the most urgent cases of any office without sorting them all.
CREATE INDEX cases_open_county ON cases (substr(region_code, 1, 6), due_on, id) WHERE state NOT IN ('approved', 'closed', 'incomplete');
CREATE INDEX cases_open_township ON cases (substr(region_code, 1, 9), due_on, id) WHERE state NOT IN ('approved', 'closed', 'incomplete');
CREATE INDEX cases_open_due ON cases (due_on, id) WHERE state NOT IN ('approved', 'closed', 'incomplete');
CREATE INDEX cases_incomplete ON cases (substr(region_code, 1, 6), accepted_on) WHERE state = 'incomplete';
CREATE INDEX cases_review_county ON cases (substr(region_code, 1, 6), next_review_on) WHERE state = 'approved' AND next_review_on <> '';
