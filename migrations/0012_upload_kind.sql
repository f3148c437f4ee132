-- Uploads are tus uploads (bytes through the api) or presigned S3 multipart uploads (bytes straight
-- to the store, checked at completion).
ALTER TABLE uploads ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'tus' CHECK (kind IN ('tus', 's3'));
CREATE UNIQUE INDEX IF NOT EXISTS uploads_s3_upload_id ON uploads (s3_upload_id) WHERE kind = 's3';
