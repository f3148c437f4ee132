-- The generation the stored DASH manifest (manifest.mpd, beside the master) describes; NULL for
-- videos packaged before DASH, or whose segments' exact times were not recorded.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS dash_generation INTEGER;
