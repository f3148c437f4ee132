-- Who may play a video: `public` (plain URLs) or `signed` (expiring signed URLs, the default).
ALTER TABLE videos ADD COLUMN IF NOT EXISTS visibility text NOT NULL DEFAULT 'signed'
    CHECK (visibility IN ('public', 'signed'));
-- The uploader's e-mail (the token's `email` claim), for ready/failed notification mails.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS owner_email text CHECK (owner_email IS NULL OR length(owner_email) <= 320);
