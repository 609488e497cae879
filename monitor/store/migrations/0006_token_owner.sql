-- coldwatch store, schema version 6: an API token may act for a person (its owner).
--
-- owner: the user id the token acts as (`coldwatch user token-add --for USER`): what it does
-- is attributed to that user and the person linked to them, and its role is at most that
-- user's role, checked again at every use. NULL: a machine's token (a kiosk, Grafana), which
-- only ever reads (viewer), whatever role it was created with before this version.
--
-- A nullable column added later leaves the hash chain of the older rows valid: a NULL column
-- is left out of a row's hash (monitor/store/side_chain.py).
ALTER TABLE api_token_log ADD COLUMN owner TEXT;
