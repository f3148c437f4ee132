-- The source's SHA-256 is computed by the worker from its copy of the source, off the upload
-- path: '' until then, for every video (it already was for imports). Not NULL: replicas of the
-- previous version read the column as text during a rolling upgrade, and still insert either a
-- digest or '' for an import.
ALTER TABLE videos DROP CONSTRAINT IF EXISTS videos_sha256_check;
ALTER TABLE videos ADD CONSTRAINT videos_sha256_check CHECK (sha256 = '' OR sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE videos ALTER COLUMN sha256 SET DEFAULT '';
-- uploads.hash_state (a tus upload's digest state between PATCHes) is no longer written; it stays
-- for replicas of the previous version during a rolling upgrade.
