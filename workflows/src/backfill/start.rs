//! Starting a backfill (the API's `POST /v1/admin/backfill`).

use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use vodflow_core::backfill::Backfill;
use vodflow_core::{Config, names};

use super::BackfillWorkflow;

/// `backfill-<id>`: the id the API hands out names the workflow in the Temporal UI.
pub fn workflow_id(id: &str) -> String {
    format!("backfill-{id}")
}

pub async fn start(
    cfg: &Config,
    client: &Client,
    id: &str,
    input: Backfill,
) -> Result<(), WorkflowStartError> {
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        workflow_id(id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .static_summary(format!(
        "backfill of {}",
        input
            .outputs
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .build();
    client
        .start_workflow(BackfillWorkflow::run, input, opts)
        .await?;
    Ok(())
}
