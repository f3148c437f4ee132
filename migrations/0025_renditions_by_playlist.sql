-- Several audio renditions (one per audio track, all height 0) per video: a rendition is named by
-- its playlist, not by its kind and height.
ALTER TABLE renditions DROP CONSTRAINT IF EXISTS renditions_pkey;
ALTER TABLE renditions ADD PRIMARY KEY (video_id, playlist_key);
