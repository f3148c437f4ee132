-- The generation viewers are shown: the last one that became ready. A forced re-encode writes the
-- next generation while this one keeps playing, and it keeps playing if that run fails.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS published_generation INTEGER;
UPDATE videos SET published_generation = generation WHERE status = 'ready' AND published_generation IS NULL;
-- The activity that failed the run and how many attempts it made, recorded by the run itself, so
-- that a status read never has to read the run's history from Temporal.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS failure_activity_id TEXT;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS failure_attempts INTEGER;
