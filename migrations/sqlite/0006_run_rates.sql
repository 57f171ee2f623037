-- chaperone store, SQLite. Version 6: what the platform's rate limits allowed during a run.
--
-- A platform's limit is shared with every other app on the account, so a run slows down to what
-- it allows; the run's report says so (report::RateAllowed, as JSON), and `report --run` prints
-- it again. NULL for runs recorded before this version.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

ALTER TABLE runs ADD COLUMN rates TEXT CHECK (rates IS NULL OR json_valid(rates));
