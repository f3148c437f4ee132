-- The source's SHA-256 is computed by the worker from its copy of the source, off the upload
-- path: NULL until then (it was '' for imports until fetched).
ALTER TABLE videos DROP CONSTRAINT IF EXISTS videos_sha256_check;
ALTER TABLE videos ALTER COLUMN sha256 DROP NOT NULL;
UPDATE videos SET sha256 = NULL WHERE sha256 = '';
ALTER TABLE videos ADD CONSTRAINT videos_sha256_check CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$');
-- uploads.hash_state (a tus upload's digest state between PATCHes) is no longer written; it stays
-- for replicas of the previous version during a rolling upgrade.
