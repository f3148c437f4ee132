-- Downloads (progressive MP4/M4A remuxed from the segments): what the video is to have, what was
-- made, and for which generation (a forced re-encode makes its own).
ALTER TABLE videos ADD COLUMN IF NOT EXISTS downloads TEXT NOT NULL DEFAULT 'none'
    CHECK (downloads IN ('none', 'audio', 'highest', 'all'));
ALTER TABLE videos ADD COLUMN IF NOT EXISTS downloads_made JSONB NOT NULL DEFAULT '[]';
ALTER TABLE videos ADD COLUMN IF NOT EXISTS downloads_generation INTEGER;
