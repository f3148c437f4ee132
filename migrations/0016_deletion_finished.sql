-- When a deleted video's deletion workflow finished every effect (objects removed, CDN purged,
-- `video.deleted` delivered): until then the reconciler starts the workflow again.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS removed_at timestamptz;
