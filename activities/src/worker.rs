//! The worker process: the workflow and the light activities on `video-processing`, imports on
//! `video-import` (slots of their own), the encode activities on `transcode`. Either role can run alone, so transcode workers scale on their own.

use std::sync::Arc;

use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use vodflow_core::{Config, names};
use vodflow_workflows::{
    BackfillWorkflow, DeleteVideoWorkflow, ReconcileWorkflow, VideoDownloadsWorkflow,
    VideoProcessingWorkflow, WebhookDeliveryWorkflow,
};

use crate::{
    DeliverActivities, Deps, ImportActivities, LifecycleActivities, MediaActivities,
    PublishActivities, TranscodeActivities,
};
use vodflow_core::work_dir::Gate;

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

/// [`run_with`] with metrics nobody serves (tests, tools).
pub async fn run(
    cfg: Config,
    roles: Roles,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    run_with(cfg, roles, &prometheus::Registry::new(), shutdown).await
}

/// Runs the selected workers until `shutdown` resolves, with their metrics in `registry`. Not
/// `Send` (Temporal workers drive workflows on a local set): await it on the main task.
pub async fn run_with(
    cfg: Config,
    roles: Roles,
    registry: &prometheus::Registry,
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
    let metrics =
        vodflow_core::metrics::WorkerMetrics::new(registry, vodflow_workflows::contract::COUNTED);
    let deps: Arc<Deps> = Deps::new(cfg.clone(), client.clone(), metrics).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut processing = None;
    let mut imports = None;
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
            .register_workflow::<VideoDownloadsWorkflow>()
            .map_err(|e| setup(&e))?
            .register_workflow::<BackfillWorkflow>()
            .map_err(|e| setup(&e))?
            .register_activities(MediaActivities(deps.clone()))
            .register_activities(PublishActivities(deps.clone()))
            .register_activities(DeliverActivities(deps.clone()))
            .register_activities(LifecycleActivities(deps.clone()))
            // Runs started before imports had their own queue schedule them here.
            .register_activities(ImportActivities(deps.clone()))
            .tuner(tuner(8))
            .build();
        processing = Some(Worker::new(&runtime, client.clone(), opts).map_err(|e| setup(&e))?);
        let opts = WorkerOptions::new(cfg.task_queue(names::TASK_QUEUE_IMPORT))
            .register_activities(ImportActivities(deps.clone()))
            .tuner(tuner(cfg.imports.max_concurrent))
            // A download may last hours: at shutdown it is stopped (and retried by another
            // worker from the start) rather than waited for.
            .graceful_shutdown_period(IMPORT_SHUTDOWN_GRACE)
            .build();
        imports = Some(Worker::new(&runtime, client.clone(), opts).map_err(|e| setup(&e))?);
    }
    tracing::info!(
        ?roles,
        max_concurrent_transcodes = transcodes,
        "workers running"
    );
    let processing_run = async {
        let (a, b) = futures::future::join(
            run_optional(processing.as_mut(), stopped(stop_rx.clone())),
            run_optional(imports.as_mut(), stopped(stop_rx.clone())),
        )
        .await;
        a.and(b)
    };
    let transcode_run = async {
        if !roles.transcode {
            return Ok(());
        }
        let gate = Gate::new(&cfg.work_dir, cfg.work_dir_min_free_bytes);
        transcode_while_disk_has_room(&runtime, &client, &deps, &gate, stop_rx.clone()).await
    };
    let gauges = measure(&deps, roles, stop_rx.clone());
    // The reconciler runs on the processing queue; its schedule exists once any processing worker
    // has started. Temporal may be briefly unavailable then, so creation is retried (with
    // backoff, in the background) until it succeeds, not logged once and forgotten.
    let schedule = async {
        if roles.processing {
            let ensure = || vodflow_workflows::reconcile::ensure_schedule(&cfg, &client);
            match until_ok(ensure, SCHEDULE_RETRY, stopped(stop_rx.clone())).await {
                Some(done) => tracing::info!(?done, "reconciler schedule in place"),
                None => tracing::warn!("stopped before the reconciler schedule could be created"),
            }
        }
    };
    let gauges = futures::future::join(gauges, schedule);
    let runs = futures::future::join3(processing_run, transcode_run, async {
        gauges.await;
    });
    let stopper = async {
        shutdown.await;
        tracing::info!("stopping workers (in-flight activities get the graceful period)");
        let _ = stop_tx.send(true);
    };
    let mut runs = std::pin::pin!(runs);
    let stopper = std::pin::pin!(stopper);
    // Workers can also end on their own (a fatal error): then do not wait for a shutdown signal.
    let (a, b, ()) = match futures::future::select(runs.as_mut(), stopper).await {
        futures::future::Either::Left((results, _)) => results,
        futures::future::Either::Right(((), _)) => runs.await,
    };
    a.and(b).map_err(WorkerError::Setup)
}

/// How long imports in flight may go on after a shutdown began, before they are stopped.
const IMPORT_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Backoff between attempts to create the reconciler schedule: first and longest wait.
const SCHEDULE_RETRY: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(60),
);

/// Runs `op` until it succeeds, waiting between failures from `backoff.0` doubling up to
/// `backoff.1`; `None` when `stop` resolves first.
async fn until_ok<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    mut op: impl FnMut() -> F,
    backoff: (std::time::Duration, std::time::Duration),
    stop: impl Future<Output = ()>,
) -> Option<T> {
    let mut stop = std::pin::pin!(stop);
    let mut wait = backoff.0;
    loop {
        let attempt = std::pin::pin!(op());
        let e = match futures::future::select(attempt, stop.as_mut()).await {
            futures::future::Either::Left((Ok(v), _)) => return Some(v),
            futures::future::Either::Left((Err(e), _)) => e,
            futures::future::Either::Right(_) => return None,
        };
        tracing::warn!(error = %e, retry_in = ?wait, "cannot create the reconciler schedule");
        let sleep = std::pin::pin!(tokio::time::sleep(wait));
        if let futures::future::Either::Right(_) =
            futures::future::select(sleep, stop.as_mut()).await
        {
            return None;
        }
        wait = (wait * 2).min(backoff.1);
    }
}

/// How often the gauges (disk, queue backlogs) are refreshed.
const MEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps the worker's gauges current until shutdown: its work directory, and (processing role)
/// the backlog Temporal reports for both queues.
async fn measure(deps: &Arc<Deps>, roles: Roles, stop: tokio::sync::watch::Receiver<bool>) {
    let m = &deps.metrics;
    let cfg = &deps.cfg;
    loop {
        if let Some(free) = vodflow_core::work_dir::free_bytes(std::path::Path::new(&cfg.work_dir))
        {
            m.work_dir_free_bytes.set(free.min(i64::MAX as u64) as i64);
        }
        m.work_dir_used_bytes
            .set(deps.storage.sources.used_bytes().await.min(i64::MAX as u64) as i64);
        if roles.processing {
            for (label, queue) in [
                ("processing", names::TASK_QUEUE_PROCESSING),
                ("transcode", names::TASK_QUEUE_TRANSCODE),
                ("import", names::TASK_QUEUE_IMPORT),
            ] {
                match backlog(
                    &deps.temporal,
                    &cfg.temporal_namespace,
                    &cfg.task_queue(queue),
                )
                .await
                {
                    Ok(n) => m.task_queue_backlog.with_label_values(&[label]).set(n),
                    Err(e) => tracing::debug!(queue, error = %e, "no backlog figure"),
                }
            }
        }
        let wait = tokio::time::sleep(MEASURE_EVERY);
        let wait = std::pin::pin!(wait);
        let stopped = std::pin::pin!(stopped(stop.clone()));
        if let futures::future::Either::Right(_) = futures::future::select(wait, stopped).await {
            return;
        }
    }
}

/// Activity tasks waiting in `queue`, as Temporal estimates them.
async fn backlog(
    client: &temporalio_client::Client,
    namespace: &str,
    queue: &str,
) -> Result<i64, String> {
    use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
    use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
    use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;
    let req = DescribeTaskQueueRequest {
        namespace: namespace.to_owned(),
        task_queue: Some(TaskQueue {
            name: queue.to_owned(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        task_queue_type: TaskQueueType::Activity as i32,
        report_stats: true,
        ..Default::default()
    };
    let resp = client
        .connection()
        .workflow_service()
        .describe_task_queue(tonic::Request::new(req))
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp
        .into_inner()
        .stats
        .map_or(0, |s| s.approximate_backlog_count))
}

async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// [`run_until`] for a worker this process may not have.
async fn run_optional(
    worker: Option<&mut Worker>,
    until: impl Future<Output = ()>,
) -> Result<(), String> {
    match worker {
        Some(w) => run_until(w, until).await,
        None => Ok(()),
    }
}

/// Runs `worker` until it ends on its own or `until` resolves, then lets it shut down gracefully
/// (polling stops at once, activities in flight finish).
async fn run_until(worker: &mut Worker, until: impl Future<Output = ()>) -> Result<(), String> {
    let stop = worker.shutdown_handle();
    let run = worker.run();
    let mut run = std::pin::pin!(run);
    let until = std::pin::pin!(until);
    match futures::future::select(run.as_mut(), until).await {
        futures::future::Either::Left((r, _)) => r.map_err(|e| e.to_string()),
        futures::future::Either::Right(((), _)) => {
            stop();
            run.await.map_err(|e| e.to_string())
        }
    }
}

/// The transcode role: a worker polls the transcode queue only while the work directory has room;
/// when free space falls below the threshold it stops taking tasks (the ones running finish) and
/// a new worker polls again once space is back.
async fn transcode_while_disk_has_room(
    runtime: &Runtime,
    client: &temporalio_client::Client,
    deps: &Arc<Deps>,
    gate: &Gate,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let cfg = &deps.cfg;
    loop {
        if !gate.open() {
            tracing::warn!(
                free_bytes = gate.free_bytes(),
                min_free_bytes = gate.min_free(),
                "work directory nearly full: not taking encode tasks until space is freed"
            );
            let opened = std::pin::pin!(gate.opened());
            let stopped = std::pin::pin!(stopped(stop.clone()));
            if let futures::future::Either::Right(_) =
                futures::future::select(opened, stopped).await
            {
                return Ok(());
            }
            tracing::info!(
                free_bytes = gate.free_bytes(),
                "work directory has room again: taking encode tasks"
            );
        }
        let opts = WorkerOptions::new(cfg.task_queue(names::TASK_QUEUE_TRANSCODE))
            .register_activities(TranscodeActivities(deps.clone()))
            .tuner(tuner(cfg.max_concurrent_transcodes))
            .build();
        let mut worker = Worker::new(runtime, client.clone(), opts).map_err(|e| e.to_string())?;
        let until = async {
            let closed = std::pin::pin!(gate.closed());
            let stopped = std::pin::pin!(stopped(stop.clone()));
            futures::future::select(closed, stopped).await;
        };
        run_until(&mut worker, until).await?;
        drop(worker);
        if *stop.borrow() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::until_ok;

    #[tokio::test]
    async fn a_failing_setup_step_is_retried_until_it_succeeds() {
        let tries = AtomicU32::new(0);
        let op = || async {
            match tries.fetch_add(1, Ordering::SeqCst) {
                0..=3 => Err("temporal unavailable"),
                n => Ok(n),
            }
        };
        let backoff = (Duration::from_millis(1), Duration::from_millis(4));
        let got = until_ok(op, backoff, std::future::pending()).await;
        assert_eq!(got, Some(4));
        assert_eq!(tries.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_stop_ends_the_retries() {
        let op = || async { Err::<(), _>("down") };
        let stop = tokio::time::sleep(Duration::from_millis(50));
        let got = until_ok(op, (Duration::from_secs(1), Duration::from_secs(60)), stop).await;
        assert_eq!(got, None);
    }
}
