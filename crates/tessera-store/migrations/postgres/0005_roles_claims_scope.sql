-- Authorization data (issue 18): a user's roles (JSON array of names, sorted) and custom claims
-- (JSON object, compact, members sorted), and the scope granted to a token session
-- (space-separated, sorted; NULL for none). Numbered 0004 so that another branch's 0003 can land
-- beside it.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sessions ADD COLUMN scope TEXT;
