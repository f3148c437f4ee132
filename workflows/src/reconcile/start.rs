//! The reconciler's Temporal Schedule, created by every processing worker at start. An existing
//! schedule gets this worker's interval and thresholds (a changed `VODFLOW_RECONCILE_*` or
//! `VODFLOW_ORPHAN_AFTER` takes effect on the next deploy) but keeps its state, so an operator's
//! pause in the UI survives restarts.

use crate::types::Reconcile;
use temporalio_client::Client;
use temporalio_client::schedules::{
    CreateScheduleOptions, ScheduleAction, ScheduleOverlapPolicy, ScheduleSpec,
};
use vodflow_core::{Config, names};

use super::ReconcileWorkflow;

/// The schedule's id (prefixed like the task queues, so test deployments do not share one).
pub const SCHEDULE_ID: &str = "vodflow-reconciler";

/// What [`ensure_schedule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Created,
    Updated,
}

/// Creates the schedule, or brings an existing one's spec and input up to this configuration.
pub async fn ensure_schedule(cfg: &Config, client: &Client) -> Result<Ensured, String> {
    let id = cfg.task_queue(SCHEDULE_ID);
    let input = Reconcile {
        after_s: cfg.reconcile_after.as_secs(),
        limit: 500,
        orphan_after_s: cfg.orphan_after.as_secs().max(1),
        outbox_retention_s: cfg.outbox_retention.as_secs().max(1),
    };
    let action = || {
        ScheduleAction::start_workflow(
            ReconcileWorkflow::run,
            input.clone(),
            cfg.task_queue(names::TASK_QUEUE_PROCESSING),
            id.clone(),
        )
    };
    let spec = || ScheduleSpec::from_interval(cfg.reconcile_interval);
    let opts = CreateScheduleOptions::builder()
        .action(action())
        .spec(spec())
        // One pass at a time; a slow pass makes the next one skip, never pile up.
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note("compares unsettled videos with Temporal and repairs them".to_owned())
        .build();
    match client.create_schedule(id.clone(), opts).await {
        Ok(_) => Ok(Ensured::Created),
        Err(e) if e.to_string().to_ascii_lowercase().contains("already") => {
            let (action, spec) = (action(), spec());
            client
                .get_schedule_handle(id)
                .update(
                    move |u| {
                        u.set_spec(spec).set_action(action);
                    },
                    Default::default(),
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(Ensured::Updated)
        }
        Err(e) => Err(e.to_string()),
    }
}
