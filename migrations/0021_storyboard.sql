-- The generation whose storyboard (sheets and WebVTT, beside its poster) is in the store; NULL for
-- videos made before storyboards, or whose storyboard could not be made.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS storyboard_generation INTEGER;
