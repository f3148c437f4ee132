-- Upload bodies being streamed (a multipart POST, a tus PATCH), one row each, on whichever api
-- replica: the per-owner limit is counted here, so N replicas do not give an owner N times the
-- limit. A replica renews its rows while their bodies stream; the rows of a replica that died
-- expire, so a crash never keeps an owner's place.
CREATE TABLE upload_streams (
    id uuid PRIMARY KEY,
    owner text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX upload_streams_by_owner ON upload_streams (owner);
