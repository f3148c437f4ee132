-- One row per uploaded video; the source of truth for what the API reports.
CREATE TABLE IF NOT EXISTS videos (
    id              uuid PRIMARY KEY,
    owner           text        NOT NULL,
    title           text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description     text        NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    status          text        NOT NULL DEFAULT 'uploaded'
                    CHECK (status IN ('uploaded', 'processing', 'ready', 'failed', 'cancelled', 'deleted')),
    source_key      text        NOT NULL,
    size_bytes      bigint      NOT NULL CHECK (size_bytes > 0),
    sha256          text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type    text        NOT NULL,
    duration_ms     bigint,
    width           integer,
    height          integer,
    failure_reason  text,
    failure_step    text,
    attempt         integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Listing: an owner's videos, newest first, optionally by status (cursor = (created_at, id)).
CREATE INDEX IF NOT EXISTS videos_owner_created ON videos (owner, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS videos_status ON videos (status, updated_at DESC);
