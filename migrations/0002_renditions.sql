-- One row per HLS rendition of a ready video (video ladders and the audio rendition).
CREATE TABLE IF NOT EXISTS renditions (
    video_id        uuid    NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    kind            text    NOT NULL DEFAULT 'video' CHECK (kind IN ('video', 'audio')),
    height          integer NOT NULL CHECK (height >= 0),
    width           integer NOT NULL CHECK (width >= 0),
    bitrate         integer NOT NULL CHECK (bitrate >= 0),
    codecs          text    NOT NULL,
    playlist_key    text    NOT NULL,
    segment_count   integer NOT NULL CHECK (segment_count >= 0),
    bytes           bigint  NOT NULL CHECK (bytes >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A reprocess replaces rows instead of adding duplicates.
    PRIMARY KEY (video_id, kind, height)
);
