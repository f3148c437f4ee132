-- Notifications a run has sent, by event and channel, so a retried activity (or a replayed run
-- of the same attempt) never mails or calls back twice.
CREATE TABLE IF NOT EXISTS notifications_sent (
    event_id   text        NOT NULL,
    channel    text        NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, channel)
);
