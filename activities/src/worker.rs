//! The worker process: the workflow and the light activities on `video-processing`, the encode
//! activities on `transcode`. Either role can run alone, so transcode workers scale on their own.

use std::sync::Arc;

use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use vodflow_core::{Config, names};
use vodflow_workflows::{
    DeleteVideoWorkflow, ReconcileWorkflow, VideoProcessingWorkflow, WebhookDeliveryWorkflow,
};

use crate::{Deps, ProcessingActivities, TranscodeActivities};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub processing: bool,
    pub transcode: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Deps(#[from] crate::error::Error),
}

fn tuner(activity_slots: usize) -> TunerHolder {
    TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(activity_slots.max(1)))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(10))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
        .build()
}

/// Runs the selected workers until `shutdown` resolves. Not `Send` (Temporal workers drive
/// workflows on a local set): await it on the main task.
pub async fn run(
    cfg: Config,
    roles: Roles,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let setup = |e: &dyn std::fmt::Display| WorkerError::Setup(e.to_string());
    let runtime = Runtime::from_current_tokio(Default::default()).map_err(|e| setup(&e))?;
    let role = match (roles.processing, roles.transcode) {
        (true, false) => "processing-worker",
        (false, true) => "transcode-worker",
        _ => "worker",
    };
    let client = vodflow_core::temporal::connect(&cfg, role)
        .await
        .map_err(|e| setup(&e))?;
    let transcodes = cfg.max_concurrent_transcodes;
    let deps: Arc<Deps> = Deps::new(cfg.clone(), client.clone()).await?;
    let mut workers = Vec::new();
    if roles.processing {
        let opts = WorkerOptions::new(cfg.task_queue(names::TASK_QUEUE_PROCESSING))
            .register_workflow::<VideoProcessingWorkflow>()
            .map_err(|e| setup(&e))?
            .register_workflow::<WebhookDeliveryWorkflow>()
            .map_err(|e| setup(&e))?
            .register_workflow::<ReconcileWorkflow>()
            .map_err(|e| setup(&e))?
            .register_workflow::<DeleteVideoWorkflow>()
            .map_err(|e| setup(&e))?
            .register_activities(ProcessingActivities(deps.clone()))
            .tuner(tuner(8))
            .build();
        // The reconciler runs on this queue; its schedule exists once any processing worker has
        // started (a failure to create it is logged, not fatal: the next start tries again).
        match vodflow_workflows::reconcile::ensure_schedule(&cfg, &client).await {
            Ok(true) => tracing::info!("reconciler schedule created"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot create the reconciler schedule"),
        }
        workers.push(Worker::new(&runtime, client.clone(), opts).map_err(|e| setup(&e))?);
    }
    if roles.transcode {
        let opts = WorkerOptions::new(cfg.task_queue(names::TASK_QUEUE_TRANSCODE))
            .register_activities(TranscodeActivities(deps.clone()))
            .tuner(tuner(transcodes))
            .build();
        workers.push(Worker::new(&runtime, client.clone(), opts).map_err(|e| setup(&e))?);
    }
    let stops: Vec<_> = workers.iter().map(|w| w.shutdown_handle()).collect();
    tracing::info!(
        ?roles,
        max_concurrent_transcodes = transcodes,
        "workers running"
    );
    let runs = futures::future::join_all(workers.iter_mut().map(|w| w.run()));
    let stopper = async {
        shutdown.await;
        tracing::info!("stopping workers (in-flight activities get the graceful period)");
        for s in &stops {
            s();
        }
    };
    let mut runs = std::pin::pin!(runs);
    let stopper = std::pin::pin!(stopper);
    // Workers can also end on their own (a fatal error): then do not wait for a shutdown signal.
    let results = match futures::future::select(runs.as_mut(), stopper).await {
        futures::future::Either::Left((results, _)) => results,
        futures::future::Either::Right(((), _)) => runs.await,
    };
    for r in results {
        r.map_err(|e| setup(&e))?;
    }
    Ok(())
}
