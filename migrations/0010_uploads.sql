-- Resumable (tus) and direct uploads. The bytes go straight into an S3 multipart upload; this row
-- is the upload's whole state, so any api replica can take the next PATCH and a restarted api
-- resumes every upload. Invariant: upload_offset = flushed + pending.
CREATE TABLE IF NOT EXISTS uploads (
    id            uuid        PRIMARY KEY,
    owner         text        NOT NULL,
    owner_email   text,
    -- The video this upload becomes (its source key is uploads/<video_id>/source).
    video_id      uuid        NOT NULL UNIQUE,
    -- waiting (direct upload not begun) | uploading | complete | expired | terminated
    state         text        NOT NULL,
    -- A direct upload's one-time creation secret; NULL once used (or for API-created uploads).
    direct_token  text        UNIQUE,
    direct        boolean     NOT NULL DEFAULT false,
    length        bigint,
    max_bytes     bigint      NOT NULL,
    upload_offset bigint      NOT NULL DEFAULT 0,
    -- Bytes in finished parts, and in the incomplete last part kept as its own object.
    flushed       bigint      NOT NULL DEFAULT 0,
    pending       bigint      NOT NULL DEFAULT 0,
    s3_upload_id  text,
    parts         jsonb       NOT NULL DEFAULT '[]',
    -- SHA-256 chaining state over the flushed bytes.
    hash_state    bytea,
    content_type  text,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    failure       text,
    -- Serializes PATCHes: a request holds the lease while it writes.
    lock_token    uuid,
    lock_until    timestamptz,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS uploads_open_by_expiry ON uploads (expires_at)
    WHERE state IN ('waiting', 'uploading');
