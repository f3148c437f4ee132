-- A notification's intent is recorded before it is sent (sent_at NULL, sends counting the
-- attempts that may have reached the receiver) and completed after: a crash between the send and
-- the record leaves an open intent, and the retry sends again with the same idempotency key.
-- sent_at keeps its default so rows written by older workers still read as sent.
ALTER TABLE notifications_sent
    ALTER COLUMN sent_at DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS sends integer NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS intended_at timestamptz NOT NULL DEFAULT now();
