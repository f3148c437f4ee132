-- A resumable upload's bytes past its last whole part, one store object per request that left
-- some (each written once, read once when they fill a part): [{start, len, lease}], in order.
-- Before this, one object held them all and every request read and rewrote it whole.
ALTER TABLE uploads ADD COLUMN IF NOT EXISTS pending_segments jsonb NOT NULL DEFAULT '[]'::jsonb;
