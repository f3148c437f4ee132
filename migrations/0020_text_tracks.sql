-- A video's text tracks: the list ([{id, language, name, kind, default, cues}]) on the video, read
-- with it (the playback URLs and the master need it on every read); each track's cues apart, read
-- only when a player asks for that track.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS text_tracks JSONB NOT NULL DEFAULT '[]';
CREATE TABLE IF NOT EXISTS text_track_cues (
    id          uuid        PRIMARY KEY,
    video_id    uuid        NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    cues        JSONB       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS text_track_cues_video ON text_track_cues (video_id);
