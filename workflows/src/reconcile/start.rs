//! The reconciler's Temporal Schedule, created by every processing worker at start (idempotent:
//! an existing schedule is left as it is, so an operator's pause in the UI survives restarts).

use temporalio_client::Client;
use temporalio_client::schedules::{
    CreateScheduleOptions, ScheduleAction, ScheduleOverlapPolicy, ScheduleSpec,
};
use vodflow_core::workflow_types::Reconcile;
use vodflow_core::{Config, names};

use super::ReconcileWorkflow;

/// The schedule's id (prefixed like the task queues, so test deployments do not share one).
pub const SCHEDULE_ID: &str = "vodflow-reconciler";

/// Creates the schedule unless it exists. Returns whether it was created.
pub async fn ensure_schedule(cfg: &Config, client: &Client) -> Result<bool, String> {
    let id = cfg.task_queue(SCHEDULE_ID);
    let input = Reconcile {
        after_s: cfg.reconcile_after.as_secs(),
        limit: 500,
        orphan_after_s: cfg.orphan_after.as_secs().max(1),
        outbox_retention_s: cfg.outbox_retention.as_secs().max(1),
    };
    let opts = CreateScheduleOptions::builder()
        .action(ScheduleAction::start_workflow(
            ReconcileWorkflow::run,
            input,
            cfg.task_queue(names::TASK_QUEUE_PROCESSING),
            id.clone(),
        ))
        .spec(ScheduleSpec::from_interval(cfg.reconcile_interval))
        // One pass at a time; a slow pass makes the next one skip, never pile up.
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note("compares unsettled videos with Temporal and repairs them".to_owned())
        .build();
    match client.create_schedule(id, opts).await {
        Ok(_) => Ok(true),
        Err(e) if e.to_string().to_ascii_lowercase().contains("already") => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}
