-- Even loudness: whether the video's audio is normalized (decided at upload, the configured
-- default otherwise) and what the measurement found and the gain applied ({input_lufs,
-- input_true_peak_dbtp, gain_db, target_lufs, limited}); NULL until measured.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS normalize_audio BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS loudness JSONB;
