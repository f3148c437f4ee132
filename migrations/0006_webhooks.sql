-- Owners' webhook endpoints. The secret signs every delivery; it is shown once, at registration.
CREATE TABLE IF NOT EXISTS webhooks (
    id          uuid PRIMARY KEY,
    owner       text        NOT NULL,
    url         text        NOT NULL CHECK (length(url) <= 2048),
    secret      text        NOT NULL,
    events      text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhooks_owner ON webhooks (owner);

-- One event for one endpoint. `event_key` makes enqueueing idempotent (a retried activity or a
-- repeated delete does not deliver twice).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            text        NOT NULL,
    event_key        text        NOT NULL,
    video_id         uuid,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_key)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

-- Every HTTP attempt of a delivery, for the delivery log.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    status_code  integer,
    error        text,
    duration_ms  integer     NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
