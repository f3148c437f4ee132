-- Callbacks are signed with a secret of their own video (returned once, at upload), so one owner's
-- receiver cannot verify, or be sent, forgeries of another's.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS callback_secret text;
