-- Placeholder on branch `rollup` only: migration 0006 belongs to the `api` branch
-- (0006_token_owner.sql). Migrations are numbered without gaps, so this branch needs a 0006
-- to carry its 0007; at merge, take the `api` branch's version of this file.
SELECT 1;
