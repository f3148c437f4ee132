-- Optional per-video callback: notified (signed POST) when processing ends.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS callback_url text CHECK (callback_url IS NULL OR length(callback_url) <= 2048);
