//! The reconciler's pass: every video still `uploaded` or `processing` after a while is compared
//! with its workflow. No run at all (the event never started one) or a run that completed without
//! its result reaching Postgres: start a new run (finished chunks are reused). A run that ended
//! failed, terminated or timed out without recording it: record the failure with that end, so the
//! owner sees it and can reprocess. A run still open is left alone.

use std::time::Duration;

use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowIdReusePolicy,
};
use vodflow_core::workflow_types::{Reconcile, Reconciled};
use vodflow_core::{Config, VideoStatus, repo};
use vodflow_workflows::VideoProcessingWorkflow;
use vodflow_workflows::video_processing::{Run, start_run};

use crate::error::{Error, Result};

/// The step recorded on a failure the reconciler found.
pub(crate) const STEP: &str = "workflow";

enum Found {
    Open,
    Missing,
    Closed(WorkflowExecutionStatus),
}

async fn describe(client: &Client, id: vodflow_core::VideoId) -> Result<Found> {
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(id.workflow_id());
    match h.describe(WorkflowDescribeOptions::default()).await {
        Ok(d) if d.status() == WorkflowExecutionStatus::Running => Ok(Found::Open),
        Ok(d) => Ok(Found::Closed(d.status())),
        Err(e) if e.to_string().to_ascii_lowercase().contains("not found") => Ok(Found::Missing),
        Err(e) => Err(Error::Temporal(e.to_string())),
    }
}

pub(crate) async fn pass(
    cfg: &Config,
    pool: &sqlx::PgPool,
    client: &Client,
    job: &Reconcile,
) -> Result<Reconciled> {
    let rows =
        repo::unsettled(pool, Duration::from_secs(job.after_s), i64::from(job.limit)).await?;
    let mut out = Reconciled::default();
    for row in rows {
        out.checked += 1;
        let id = row.video_id();
        let found = describe(client, id).await?;
        if matches!(found, Found::Open) {
            continue;
        }
        // A run that closed between reading the row and asking Temporal recorded its own result
        // first: act only on a row that is still exactly as it was.
        let fresh = repo::get_video(pool, id, None).await?;
        if fresh.is_none_or(|f| f.status != row.status || f.updated_at != row.updated_at) {
            continue;
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
                repo::set_failed(pool, id, STEP, &reason).await?;
                tracing::warn!(video_id = %id, ?end, "reconciler recorded a failure");
                out.failed += 1;
                false
            }
        };
        if restart {
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
            out.restarted += 1;
        }
    }
    if out.checked > 0 {
        tracing::info!(?out, "reconcile pass");
    }
    Ok(out)
}
