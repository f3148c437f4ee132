//! The reconciler's pass: every video still `uploaded` or `processing` after a while is compared
//! with its workflow. No run at all (the event never started one) or a run that completed without
//! its result reaching Postgres: start a new run (finished chunks are reused). A run that ended
//! failed, terminated or timed out without recording it: record the failure with that end, so the
//! owner sees it and can reprocess. A run still open is left alone. Every unsettled row is looked
//! at in each pass, page after page: open runs ahead of it cannot hide a stranded video.

use std::time::{Duration, SystemTime};

use futures::StreamExt;

use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowExecutionStatus, WorkflowIdReusePolicy};
use vodflow_core::ingest::PartStore;
use vodflow_core::storage::{abort_multipart_uploads, sdk_error};
use vodflow_core::{Config, VideoStatus, repo};
use vodflow_workflows::types::{Reconcile, Reconciled};
use vodflow_workflows::video_processing::{Run, run_status, start_run};

use crate::error::{Error, Result};

/// The step recorded on a failure the reconciler found.
pub(crate) const STEP: &str = "workflow";

enum Found {
    Open,
    Missing,
    Closed(WorkflowExecutionStatus),
}

async fn describe(client: &Client, id: vodflow_core::VideoId) -> Result<Found> {
    match run_status(client, id).await {
        Ok(Some(WorkflowExecutionStatus::Running)) => Ok(Found::Open),
        Ok(Some(end)) => Ok(Found::Closed(end)),
        Ok(None) => Ok(Found::Missing),
        Err(e) => Err(Error::Temporal(e.to_string())),
    }
}

pub(crate) async fn pass(
    cfg: &Config,
    pool: &sqlx::PgPool,
    client: &Client,
    s3: &aws_sdk_s3::Client,
    job: &Reconcile,
) -> Result<Reconciled> {
    let mut out = Reconciled::default();
    let page = i64::from(job.limit.max(1));
    let mut after = None;
    loop {
        let rows = repo::unsettled(pool, Duration::from_secs(job.after_s), after, page).await?;
        let last_page = (rows.len() as i64) < page;
        after = rows.last().map(|r| (r.updated_at, r.id));
        // Most rows are open runs that need one look: ask Temporal about several at a time.
        let mut looks = futures::stream::iter(rows)
            .map(|row| examine(cfg, pool, client, s3, row))
            .buffer_unordered(EXAMINED_AT_ONCE);
        while let Some(seen) = looks.next().await {
            out.checked += 1;
            match seen? {
                Examined::Left => {}
                Examined::Restarted => out.restarted += 1,
                Examined::Failed => out.failed += 1,
            }
        }
        if last_page {
            break;
        }
    }
    finish_deletions(cfg, pool, client, &mut out).await?;
    sweep(cfg, pool, s3, job, &mut out).await?;
    if out != Reconciled::default() {
        tracing::info!(?out, "reconcile pass");
    }
    Ok(out)
}

/// Unsettled rows examined at once (each is a Temporal describe, sometimes a start).
const EXAMINED_AT_ONCE: usize = 16;

/// What one look at an unsettled row did.
enum Examined {
    /// Its run is open, or the row changed meanwhile: nothing to do.
    Left,
    Restarted,
    Failed,
}

/// Compares one unsettled row with its workflow and repairs what disagrees.
async fn examine(
    cfg: &Config,
    pool: &sqlx::PgPool,
    client: &Client,
    s3: &aws_sdk_s3::Client,
    row: repo::VideoRow,
) -> Result<Examined> {
    let id = row.video_id();
    let found = describe(client, id).await?;
    if matches!(found, Found::Open) {
        return Ok(Examined::Left);
    }
    // A run that closed between reading the row and asking Temporal recorded its own result
    // first: act only on a row that is still exactly as it was.
    let fresh = repo::get_video(pool, id, None).await?;
    if fresh.is_none_or(|f| f.status != row.status || f.updated_at != row.updated_at) {
        return Ok(Examined::Left);
    }
    let restart = match (&found, row.status()) {
        (Found::Open, _) => false,
        (Found::Missing, _) => true,
        (Found::Closed(WorkflowExecutionStatus::Completed), _) => true,
        // A run that died after being started for an `uploaded` row never got to record
        // anything: treat it like a missing run.
        (Found::Closed(_), VideoStatus::Uploaded) => true,
        (Found::Closed(end), _) => {
            let reason = format!(
                "the processing run ended {} without recording a result; reprocess the video to try again",
                format!("{end:?}").to_lowercase()
            );
            let ending = crate::publish::withdraw::Ending::Failed {
                step: STEP,
                reason: &reason,
                activity: None,
            };
            crate::publish::withdraw::record_ending(pool, s3, &cfg.s3.bucket, id, ending).await?;
            tracing::warn!(video_id = %id, ?end, "reconciler recorded a failure");
            return Ok(Examined::Failed);
        }
    };
    if !restart {
        return Ok(Examined::Left);
    }
    let attempt = if matches!(found, Found::Missing) && row.attempt <= 1 {
        row.attempt.max(1)
    } else {
        row.attempt + 1
    };
    let run = Run::of_row(&row, &cfg.s3.bucket, attempt);
    match start_run(cfg, client, &run, WorkflowIdReusePolicy::AllowDuplicate).await {
        Ok(()) | Err(WorkflowStartError::AlreadyStarted { .. }) => {}
        Err(e) => return Err(Error::Temporal(e.to_string())),
    }
    repo::touch(pool, id).await?;
    tracing::warn!(video_id = %id, attempt, "reconciler restarted a stranded video");
    Ok(Examined::Restarted)
}

/// A deletion that has not finished all its effects (Temporal was away when the DELETE came, or
/// the workflow ran out of retries): start its workflow again (a running one is left alone).
/// Never leaked, whoever died.
async fn finish_deletions(
    cfg: &Config,
    pool: &sqlx::PgPool,
    client: &Client,
    out: &mut Reconciled,
) -> Result<()> {
    // Older deletions were finished by earlier passes; two days covers any outage.
    let ids = repo::unfinished_deletions(pool, Duration::from_secs(2 * 24 * 3600), 200).await?;
    for id in ids {
        // Just asked for: the API starts it (and Temporal dedupes the two starts anyway).
        let started = vodflow_workflows::delete_video::start(cfg, client, id)
            .await
            .map_err(|e| Error::Temporal(e.to_string()))?;
        if started {
            tracing::warn!(video_id = %id, "unfinished deletion started again");
            out.deletions_restarted += 1;
        }
    }
    Ok(())
}

/// Resumable uploads past their expiry: their parts are aborted in the store, their pending part
/// removed, and their URL answers 410 from now on.
async fn expire_uploads(pool: &sqlx::PgPool, s3: &aws_sdk_s3::Client, bucket: &str) -> Result<u32> {
    use vodflow_core::uploads::{self, UploadState};
    let mut n = 0;
    for u in uploads::expired(pool, 500).await? {
        let key = vodflow_core::layout::source_key(u.video_id());
        // The pending bytes first: once the multipart upload is gone, nothing of it is left.
        vodflow_core::storage::delete_prefix(
            s3,
            bucket,
            &vodflow_core::layout::pending_prefix(&key),
        )
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
        if let Some(upload_id) = &u.s3_upload_id {
            vodflow_core::ingest::S3PartStore::new(s3, bucket, &key)
                .abort(upload_id)
                .await
                .map_err(|e| Error::Storage(e.to_string()))?;
        }
        uploads::close(
            pool,
            u.id,
            UploadState::Expired,
            Some("expired before it was finished"),
        )
        .await?;
        tracing::info!(upload = %u.id, offset = u.upload_offset, "expired upload aborted");
        n += 1;
    }
    Ok(n)
}

/// Presigned uploads whose parts hold more than the upload's maximum. A part URL signed without
/// a size (Uppy's `signPart` sends none) takes up to the store's 5 GiB per part, and completing
/// refuses the upload, but a client that never completes would keep those bytes in the store
/// until expiry; each pass aborts them instead, so they stay at most one interval.
async fn abort_overfull_uploads(
    pool: &sqlx::PgPool,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<u32> {
    use vodflow_core::uploads::{self, UploadState};
    let mut n = 0;
    let mut after = None;
    loop {
        let page = uploads::open_presigned(pool, after, 500).await?;
        let Some(last) = page.last() else {
            return Ok(n);
        };
        after = Some(last.id);
        for u in page {
            let Some(upload_id) = &u.s3_upload_id else {
                continue;
            };
            let key = vodflow_core::layout::source_key(u.video_id());
            let store = vodflow_core::ingest::S3PartStore::new(s3, bucket, &key);
            let held: i64 = match store.list_parts(upload_id).await {
                Ok(parts) => parts.iter().map(|p| p.size).sum(),
                // Completed or aborted meanwhile: nothing of it is left to hold.
                Err(e) if e.is_no_such_upload() => continue,
                Err(e) => return Err(Error::Storage(e.to_string())),
            };
            if held <= u.max_bytes {
                continue;
            }
            store
                .abort(upload_id)
                .await
                .map_err(|e| Error::Storage(e.to_string()))?;
            let why = format!(
                "its parts held {held} bytes, more than its maximum of {} bytes",
                u.max_bytes
            );
            uploads::close(pool, u.id, UploadState::Terminated, Some(&why)).await?;
            tracing::warn!(upload = %u.id, owner = %u.owner, held, max = u.max_bytes, "over-full presigned upload aborted");
            n += 1;
        }
    }
}

/// What a crash leaves behind: a multipart upload an api died in the middle of, a source stored
/// by an upload whose row was never committed, and published outbox events nobody needs.
async fn sweep(
    cfg: &Config,
    pool: &sqlx::PgPool,
    s3: &aws_sdk_s3::Client,
    job: &Reconcile,
    out: &mut Reconciled,
) -> Result<()> {
    let secs = |s: u64, default: u64| Duration::from_secs(if s == 0 { default } else { s });
    let cutoff = SystemTime::now() - secs(job.orphan_after_s, 24 * 3600);
    let bucket = &cfg.s3.bucket;
    let old = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
        t.and_then(|t| SystemTime::try_from(*t).ok())
            .is_some_and(|t| t < cutoff)
    };
    out.uploads_expired += expire_uploads(pool, s3, bucket).await?;
    out.uploads_overfull += abort_overfull_uploads(pool, s3, bucket).await?;
    // A resumable upload in progress has a multipart upload and a pending part but no video row
    // yet: it is not an orphan until it expires (above).
    let open: std::collections::HashSet<uuid::Uuid> = vodflow_core::uploads::open_video_ids(pool)
        .await?
        .into_iter()
        .collect();
    let video_of = |key: &str| -> Option<uuid::Uuid> {
        key.strip_prefix("uploads/")?
            .split('/')
            .next()?
            .parse()
            .ok()
    };
    let aborted = abort_multipart_uploads(s3, bucket, "uploads/", Some(cutoff), |key| {
        video_of(key).is_some_and(|id| open.contains(&id))
    })
    .await
    .map_err(|e| Error::Storage(e.to_string()))?;
    out.multipart_aborted += aborted as u32;
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("uploads/")
        .into_paginator()
        .page_size(1000)
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::Storage(sdk_error(e).to_string()))?;
        let candidates: Vec<(uuid::Uuid, String)> = page
            .contents()
            .iter()
            .filter(|o| old(o.last_modified()))
            .filter_map(|o| {
                let key = o.key()?;
                let id = video_of(key)?;
                (!open.contains(&id)).then(|| (id, key.to_owned()))
            })
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let ids: Vec<uuid::Uuid> = candidates.iter().map(|(id, _)| *id).collect();
        let known = repo::existing_ids(pool, &ids).await?;
        for (id, key) in candidates.iter().filter(|(id, _)| !known.contains(id)) {
            s3.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| Error::Storage(sdk_error(e).to_string()))?;
            tracing::warn!(video_id = %id, key, "removed a source no video row owns");
            out.orphans_removed += 1;
        }
    }
    out.outbox_purged =
        repo::purge_outbox(pool, secs(job.outbox_retention_s, 7 * 24 * 3600)).await?;
    Ok(())
}
