//! The write path of a resumable upload: a request body appended at the upload's offset, cut into
//! S3 parts as it arrives. At most four parts are in memory (one arriving, three being stored); bytes
//! past the last whole part are kept in the store, one segment object per request, so the next
//! request (on any replica) continues from exactly the offset the client was told. A segment is
//! written once and read once, when the segments and the new bytes fill a part: store traffic is
//! proportional to the bytes uploaded, however small the requests (a single pending object read and
//! rewritten whole by every request cost a part's size per request). Nothing touches local disk.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha1::Digest as _;
use uuid::Uuid;
use vodflow_core::container;
use vodflow_core::ingest::PARTS_IN_FLIGHT;
use vodflow_core::ingest::part_buffers;
use vodflow_core::uploads::{self, Part, PendingSegment, Progress, UploadRow, UploadState};

use super::protocol::{Checksum, TusError};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::store::{PartStore, S3PartStore};

/// One request's view of an upload it holds the lease of.
pub(crate) struct Writer<'a> {
    state: &'a AppState,
    id: Uuid,
    lease: Uuid,
    store: S3PartStore,
    length: Option<i64>,
    max_bytes: i64,
    flushed: i64,
    parts: Vec<Part>,
    content_type: Option<String>,
    upload_id: Option<String>,
    /// Parts being stored while the next one arrives, oldest first; they count as durable in
    /// this order.
    in_flight: VecDeque<InFlight>,
    /// Durable pending bytes after `flushed` (earlier requests', in the store), in order; they come
    /// before `buf`'s.
    segments: Vec<PendingSegment>,
    /// Their total length.
    pending: i64,
    /// Segments whose bytes went into a part: removed from the store once that part is recorded.
    retired: Vec<PendingSegment>,
    /// This request's bytes after the segments (and the parts in flight). With the segments,
    /// never more than a part.
    buf: Vec<u8>,
    /// When the stored parts were last recorded (see [`RECORD_EVERY`]).
    recorded_at: std::time::Instant,
}

/// How far the recorded offset may trail the parts in the store while a request writes. Each
/// record rewrites the upload's whole part list, so one per part made Postgres cost ~2 % of the
/// box's CPU during a fast 1 GiB upload (and grows with the list); a crash now costs the client
/// at most this much of resending, and a slow upload still records every part.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// A part on its way to the store; it becomes durable (and counts in `flushed`) when settled.
struct InFlight {
    task: tokio::task::JoinHandle<Result<Part, crate::store::StoreError>>,
    size: i64,
}

/// The PATCH's own digest, when the client sent `Upload-Checksum`.
enum BodyDigest {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl BodyDigest {
    fn new(c: Checksum) -> Self {
        match c {
            Checksum::Sha1(d) => Self::Sha1(sha1::Sha1::new(), d),
            Checksum::Sha256(d) => Self::Sha256(sha2::Sha256::new(), d),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h, _) => h.update(data),
            Self::Sha256(h, _) => h.update(data),
        }
    }

    fn matches(self) -> bool {
        match self {
            Self::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Self::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

/// Segments of pending bytes an upload's record may list before they are merged into one.
pub(crate) const MAX_PENDING_SEGMENTS: usize = 256;

/// How a write ended.
pub(crate) enum Written {
    /// Bytes are durable up to this offset; more may follow.
    Offset(i64),
    /// The last byte arrived and the upload became this video.
    Complete { offset: i64, video_id: String },
}

impl<'a> Writer<'a> {
    /// Takes over `row` (whose lease this request holds), reloading any pending bytes.
    pub(crate) async fn resume(
        state: &'a AppState,
        row: &UploadRow,
        lease: Uuid,
    ) -> Result<Writer<'a>, TusError> {
        let store = state.part_store(&vodflow_core::layout::source_key(row.video_id()));
        let mut buf = part_buffers::take(state.cfg.upload_part_bytes);
        let segments = row.pending_segments.0.clone();
        let pending = segments.iter().map(|s| s.len).sum::<i64>();
        if row.pending > 0 && segments.is_empty() {
            // Recorded before segments: the one pending object becomes this request's bytes, and
            // is written as a segment at its end.
            let data = store.get_legacy_pending(row.pending as usize).await?;
            state
                .metrics
                .upload_pending_read_bytes
                .inc_by(data.len() as u64);
            buf.extend_from_slice(&data);
        } else if pending != row.pending {
            return Err(ApiError::Internal(format!(
                "upload {}: {pending} pending bytes in segments, {} recorded",
                row.id, row.pending
            ))
            .into());
        }
        Ok(Writer {
            state,
            id: row.id,
            lease,
            store,
            length: row.length,
            max_bytes: row.max_bytes,
            flushed: row.flushed,
            parts: row.parts.0.clone(),
            content_type: row.content_type.clone(),
            upload_id: row.s3_upload_id.clone(),
            in_flight: VecDeque::new(),
            segments,
            pending,
            retired: Vec::new(),
            buf,
            recorded_at: std::time::Instant::now(),
        })
    }

    pub(crate) fn offset(&self) -> i64 {
        self.flushed
            + self.in_flight.iter().map(|f| f.size).sum::<i64>()
            + self.pending
            + self.buf.len() as i64
    }

    /// Bytes not yet in a part: the segments' and this request's.
    fn unparted(&self) -> usize {
        self.pending as usize + self.buf.len()
    }

    /// Reads the segments back in front of this request's bytes: done once they and the new bytes
    /// fill a part (or the file's first bytes must be sniffed, or the upload ends), so each
    /// segment is read once.
    async fn gather(&mut self) -> Result<(), TusError> {
        if self.segments.is_empty() {
            return Ok(());
        }
        let mut data = part_buffers::take(self.state.cfg.upload_part_bytes);
        self.store.read_segments(&self.segments, &mut data).await?;
        self.state
            .metrics
            .upload_pending_read_bytes
            .inc_by(data.len() as u64);
        data.extend_from_slice(&self.buf);
        let old = std::mem::replace(&mut self.buf, data);
        part_buffers::give_back(old);
        self.retired.append(&mut self.segments);
        self.pending = 0;
        Ok(())
    }

    pub(crate) fn set_length(&mut self, length: i64) {
        self.length = Some(length);
    }

    /// Appends `body` at the current offset. Without a checksum, whatever arrived before a
    /// dropped connection is kept (the client resumes from it); with one, the body counts only
    /// whole and verified.
    pub(crate) async fn append(
        &mut self,
        body: impl Stream<Item = Result<Bytes, std::io::Error>>,
        checksum: Option<Checksum>,
        row: &UploadRow,
    ) -> Result<Written, TusError> {
        let idle = self.state.cfg.edge.upload_idle_timeout;
        let verified = checksum.is_some();
        let mut digest = checksum.map(BodyDigest::new);
        let mut body = std::pin::pin!(body);
        loop {
            let next = match tokio::time::timeout(idle, body.next()).await {
                Ok(n) => n,
                Err(_) if verified => {
                    return Err(
                        crate::uploads::validate::idle_error(idle, self.offset() as u64).into(),
                    );
                }
                Err(_) => break,
            };
            let chunk = match next {
                None => break,
                Some(Ok(c)) => c,
                Some(Err(e)) if verified => {
                    return Err(ApiError::BadRequest(format!("the body was cut off: {e}")).into());
                }
                Some(Err(e)) => {
                    tracing::info!(upload = %self.id, error = %e, offset = self.offset(), "upload body cut off; keeping what arrived");
                    break;
                }
            };
            let end = self.offset() + chunk.len() as i64;
            if let Some(len) = self.length
                && end > len
            {
                return Err(ApiError::BadRequest(format!(
                    "the body goes past Upload-Length ({len} bytes)"
                ))
                .into());
            }
            if end > self.max_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the upload is larger than its maximum of {} bytes",
                    self.max_bytes
                ))
                .into());
            }
            if let Some(d) = digest.as_mut() {
                d.update(&chunk);
            }
            let part = self.state.cfg.upload_part_bytes;
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                // Pending bytes kept under a larger part size (changed since) can exceed `part`.
                let take = rest.len().min(part.saturating_sub(self.unparted()));
                self.buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                self.sniff_if_ready(false).await?;
                // The upload's last part is stored by `finish`, after the last byte.
                while self.unparted() >= part && self.length.is_none_or(|len| self.offset() < len) {
                    self.gather().await?;
                    self.flush_part(verified).await?;
                }
                if take == 0 && self.unparted() >= part {
                    // Unreachable: bytes past Upload-Length were refused above.
                    return Err(ApiError::Internal(format!(
                        "upload {}: a full part that cannot be stored",
                        self.id
                    ))
                    .into());
                }
            }
        }
        if self.length.is_some_and(|len| self.offset() == len) && self.unparted() > 0 {
            // The last byte is here: the last part joins the ones in flight (after the file's
            // first bytes are checked, which a file shorter than the sniffing window needs now).
            self.sniff_if_ready(true).await?;
            self.gather().await?;
            while !self.buf.is_empty() {
                self.flush_part(verified).await?;
            }
        }
        self.settle(verified).await?;
        if let Some(d) = digest
            && !d.matches()
        {
            return Err(TusError::ChecksumMismatch(
                "Upload-Checksum does not match the body; nothing of it was kept".into(),
            ));
        }
        if self.length.is_some_and(|len| self.offset() == len) {
            return self.finish(row).await;
        }
        self.keep_pending().await?;
        Ok(Written::Offset(self.offset()))
    }

    /// Checks the file's first bytes as soon as there are enough (or the file is shorter): a
    /// non-video is refused before it costs a part.
    async fn sniff_if_ready(&mut self, complete: bool) -> Result<(), TusError> {
        if self.content_type.is_some() || self.flushed > 0 {
            return Ok(());
        }
        if !complete && self.unparted() < container::SNIFF_BYTES {
            return Ok(());
        }
        // The file's first bytes may be in earlier requests' segments (at most the sniffing
        // window and a request: this happens once per upload).
        self.gather().await?;
        let head = &self.buf[..self.buf.len().min(container::SNIFF_BYTES)];
        match container::sniff(head, complete) {
            Ok(kind) => {
                self.content_type = Some(kind.mime().to_owned());
                Ok(())
            }
            Err(e) => {
                self.terminate(&e.to_string()).await;
                Err(ApiError::UnsupportedMediaType(e.to_string()).into())
            }
        }
    }

    /// Sends the first part's worth of the buffer as a part, in the background: the request goes on receiving while
    /// the store takes it, with up to [`PARTS_IN_FLIGHT`] parts on their way.
    async fn flush_part(&mut self, verified: bool) -> Result<(), TusError> {
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.settle_oldest(verified).await?;
        }
        let upload_id = self.multipart().await?;
        let part = self.state.cfg.upload_part_bytes;
        let mut data = std::mem::replace(&mut self.buf, part_buffers::take(part));
        if data.len() > part {
            // Exactly one part: every part but the last has the same size.
            self.buf.extend_from_slice(&data[part..]);
            data.truncate(part);
        }
        let size = data.len();
        let number = (self.parts.len() + self.in_flight.len()) as i32 + 1;
        let store = self.store.clone();
        let task = tokio::spawn(async move {
            store
                .upload_part(&upload_id, number, part_buffers::freeze(data))
                .await
        });
        self.in_flight.push_back(InFlight {
            task,
            size: size as i64,
        });
        Ok(())
    }

    /// Waits for every part in flight and counts them.
    async fn settle(&mut self, verified: bool) -> Result<(), TusError> {
        while !self.in_flight.is_empty() {
            self.settle_oldest(verified).await?;
        }
        Ok(())
    }

    /// Waits for the oldest part in flight and counts it. It is recorded as durable within
    /// [`RECORD_EVERY`], unless the request carries a checksum: then everything is recorded at the
    /// end, verified or not at all.
    async fn settle_oldest(&mut self, verified: bool) -> Result<(), TusError> {
        let Some(f) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let part = f
            .task
            .await
            .map_err(|e| ApiError::Internal(format!("part upload task: {e}")))??;
        self.flushed += part.size;
        self.parts.push(part);
        let kept = if verified {
            uploads::patiently(|| uploads::renew(&self.state.pool, self.id, self.lease)).await?
        } else if self.recorded_at.elapsed() >= RECORD_EVERY {
            self.recorded_at = std::time::Instant::now();
            self.save().await?
        } else {
            true
        };
        if !kept {
            return Err(TusError::Locked(
                "another request took over this upload".into(),
            ));
        }
        Ok(())
    }

    async fn multipart(&mut self) -> Result<String, TusError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let content_type = self
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let id = self.store.create(Some(&content_type)).await?;
        // Owned by the row from its first moment: a request that then fails (a checksum that
        // does not match, a body past the maximum, a client that vanishes) leaves a store
        // upload that termination and expiry abort, not one nothing knows of.
        let recorded = uploads::patiently(|| {
            uploads::record_store_upload(&self.state.pool, self.id, self.lease, &id)
        })
        .await;
        if !matches!(recorded, Ok(true)) {
            if let Err(e) = self.store.abort(&id).await {
                tracing::warn!(upload = %self.id, error = %e, "could not abort an unrecorded multipart upload");
            }
            recorded?;
            return Err(TusError::Locked(
                "another request took over this upload".into(),
            ));
        }
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Makes this request's bytes past the last part durable (one segment) and records the offset.
    async fn keep_pending(&mut self) -> Result<(), TusError> {
        // A client sending tiny PATCHes would make a segment each: the row's list (rewritten on
        // every record) and the reads of the next gather would grow without bound. Past
        // MAX_PENDING_SEGMENTS the segments are read back and written again as one, with this
        // request's bytes; that costs reads only for PATCHes under part/MAX_PENDING_SEGMENTS bytes.
        let compacted = if self.segments.len() >= MAX_PENDING_SEGMENTS && !self.buf.is_empty() {
            let before = self.retired.len();
            self.gather().await?;
            self.retired.split_off(before)
        } else {
            Vec::new()
        };
        if !self.buf.is_empty() {
            let seg = PendingSegment {
                start: self.flushed + self.pending,
                len: self.buf.len() as i64,
                lease: self.lease,
            };
            let data = std::mem::replace(
                &mut self.buf,
                part_buffers::take(self.state.cfg.upload_part_bytes),
            );
            self.store
                .put_segment(&seg, part_buffers::freeze(data))
                .await?;
            self.segments.push(seg);
            self.pending += seg.len;
        }
        if !self.save().await? {
            return Err(TusError::Locked(
                "another request took over this upload".into(),
            ));
        }
        // The record names the one segment that holds their bytes now.
        self.store.delete_segments(&compacted).await;
        self.drop_retired().await;
        Ok(())
    }

    /// Removes the segments whose bytes are in recorded parts now.
    async fn drop_retired(&mut self) {
        let flushed = self.flushed;
        let (done, keep): (Vec<_>, Vec<_>) = self
            .retired
            .iter()
            .partition(|s| s.start + s.len <= flushed);
        self.retired = keep;
        self.store.delete_segments(&done).await;
    }

    /// Records the durable progress: the stored parts and the segments (not this request's bytes
    /// still in memory).
    async fn save(&self) -> Result<bool, TusError> {
        let progress = Progress {
            length: self.length,
            upload_offset: self.flushed + self.pending,
            flushed: self.flushed,
            pending: self.pending,
            pending_segments: &self.segments,
            s3_upload_id: self.upload_id.as_deref(),
            parts: &self.parts,
            content_type: self.content_type.as_deref(),
        };
        Ok(uploads::patiently(|| {
            uploads::save_progress(&self.state.pool, self.id, self.lease, &progress)
        })
        .await?)
    }

    /// The last byte is here: the store's completion, then the video row and its event with the
    /// upload marked complete in one transaction. Each step can be repeated, so a request that
    /// dies anywhere in here is finished by the next one (or by a HEAD).
    pub(crate) async fn finish(&mut self, row: &UploadRow) -> Result<Written, TusError> {
        let length = self.offset();
        if length == 0 {
            self.terminate("the file is empty").await;
            return Err(ApiError::BadRequest("the file is empty".into()).into());
        }
        self.sniff_if_ready(true).await?;
        let upload_id = self.multipart().await?;
        self.gather().await?;
        let in_parts: i64 = self.parts.iter().map(|p| p.size).sum();
        if in_parts < length {
            // Resumed from a record whose last bytes are still the pending object (a HEAD
            // finishing what a request left): they become the last part here.
            let number = self.parts.len() as i32 + 1;
            let part = self
                .store
                .upload_part(&upload_id, number, Bytes::from(self.buf.clone()))
                .await?;
            self.parts.push(part);
        }
        // Every part is recorded before the store completes the upload: a finish interrupted
        // after the completion is recognised by the object's size, not redone from a part list
        // the store has forgotten.
        self.flushed = length;
        self.buf.clear();
        if !self.save().await? {
            return Err(TusError::Locked(
                "another request took over this upload".into(),
            ));
        }
        if let Err(e) = self.store.complete(&upload_id, &self.parts).await {
            // Completed by an earlier attempt that died before its commit: the object is there.
            if self.store.object_size().await? != Some(length as u64) {
                return Err(e.into());
            }
        }
        let content_type = self
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        crate::uploads::commit_upload(self.state, row, length as u64, &content_type).await?;
        if let Err(e) = self.store.delete_pending().await {
            tracing::warn!(upload = %self.id, error = %e, "could not remove the pending part");
        }
        Ok(Written::Complete {
            offset: length,
            video_id: row.video_id.to_string(),
        })
    }

    /// Ends an upload for good: its parts are aborted and its row says why.
    pub(crate) async fn terminate(&mut self, why: &str) {
        abandon(&self.store, self.upload_id.as_deref()).await;
        if let Err(e) = uploads::close(
            &self.state.pool,
            self.id,
            UploadState::Terminated,
            Some(why),
        )
        .await
        {
            tracing::warn!(upload = %self.id, error = %e, "could not close the upload");
        }
        self.state
            .metrics
            .uploads
            .with_label_values(&["unsupported"])
            .inc();
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        part_buffers::give_back(std::mem::take(&mut self.buf));
    }
}

/// Removes what an upload left in the store: its multipart upload and its pending part.
pub(crate) async fn abandon(store: &S3PartStore, upload_id: Option<&str>) {
    if let Err(e) = store.delete_pending().await {
        tracing::warn!(key = %store.key, error = %e, "could not remove the pending part");
    }
    if let Some(id) = upload_id
        && let Err(e) = store.abort(id).await
    {
        tracing::warn!(key = %store.key, error = %e, "could not abort the multipart upload");
    }
}

/// How long a request holds an upload before another may take it over. The holder renews it
/// every [`RENEW_EVERY`] while it writes, so only a crashed holder's lease runs out.
pub(crate) const LEASE: Duration = Duration::from_secs(uploads::LEASE_SECONDS);
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(3);

/// The upload's write lease, waited for while another request holds it: a writer that died
/// (an api killed mid-PATCH) leaves its lease behind, and the client resuming right away should
/// not be refused for it. `false` if it is still held after the lease's whole length.
pub(crate) async fn acquire(state: &AppState, id: Uuid, lease: Uuid) -> Result<bool, TusError> {
    let started = std::time::Instant::now();
    loop {
        if uploads::patiently(|| uploads::lock(&state.pool, id, lease, LEASE)).await? {
            return Ok(true);
        }
        if started.elapsed() > LEASE + Duration::from_secs(2) {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A held write lease, renewed while it lives. Dropping it (the request ended, or its future
/// was dropped because the client went away mid-body) stops the renewals and releases the
/// lease, so the client's next request takes the upload at once instead of waiting it out.
pub(crate) struct HeldLease {
    renewing: tokio::task::JoinHandle<()>,
    pool: sqlx::PgPool,
    id: Uuid,
    lease: Uuid,
    released: bool,
}

impl HeldLease {
    pub(crate) fn renewing(state: &AppState, id: Uuid, lease: Uuid) -> Self {
        let pool = state.pool.clone();
        let renewing = tokio::spawn({
            let pool = pool.clone();
            async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    // Lost to another request: stop. A failed renewal (a busy pool) is tried again.
                    if matches!(uploads::renew(&pool, id, lease).await, Ok(false)) {
                        return;
                    }
                }
            }
        });
        Self {
            renewing,
            pool,
            id,
            lease,
            released: false,
        }
    }

    /// Releases the lease before the response goes out, so the client's next PATCH finds it free.
    pub(crate) async fn release(mut self) {
        self.renewing.abort();
        self.released = true;
        if let Err(e) = uploads::unlock(&self.pool, self.id, self.lease).await {
            tracing::warn!(upload = %self.id, error = %e, "could not release the upload's lease");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renewing.abort();
        if self.released {
            return;
        }
        let (pool, id, lease) = (self.pool.clone(), self.id, self.lease);
        // Drop cannot await; the release runs on its own, and a failed one only means the
        // lease runs out by itself within LEASE.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = uploads::unlock(&pool, id, lease).await {
                    tracing::warn!(upload = %id, error = %e, "could not release the upload's lease");
                }
            });
        }
    }
}
