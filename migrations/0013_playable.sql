-- `playable`: still processing, but the first seconds of every rung are packaged as growing HLS
-- EVENT playlists and can be watched.
ALTER TABLE videos DROP CONSTRAINT IF EXISTS videos_status_check;
ALTER TABLE videos ADD CONSTRAINT videos_status_check
    CHECK (status IN ('uploaded', 'processing', 'playable', 'ready', 'failed', 'cancelled', 'deleted'));
