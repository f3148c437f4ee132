-- A forced re-encode writes a new generation of renditions (hls/g<N>/...), so segment URLs that
-- were served as immutable never change content. 0 is the original layout.
ALTER TABLE videos ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
