-- A video imported from a URL (POST /v1/videos with source_url): its workflow streams the file into
-- the store first. Kept on the row so a replay or the reconciler can run the import again.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS source_url TEXT;

-- Until its import has run, an imported video's size and digest are unknown (0 and '').
ALTER TABLE videos DROP CONSTRAINT IF EXISTS videos_size_bytes_check;
ALTER TABLE videos DROP CONSTRAINT IF EXISTS videos_sha256_check;
ALTER TABLE videos ADD CONSTRAINT videos_size_bytes_check
    CHECK (size_bytes > 0 OR (source_url IS NOT NULL AND size_bytes = 0));
ALTER TABLE videos ADD CONSTRAINT videos_sha256_check
    CHECK (sha256 ~ '^[0-9a-f]{64}$' OR (source_url IS NOT NULL AND sha256 = ''));
