-- A video's chapters ([{start, title}], checked by the api), served as chapters.vtt.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS chapters JSONB;
