//! vodflow-activities: every side effect of processing a video — reading the source from S3,
//! probing and encoding with FFmpeg, publishing renditions, Postgres metadata, CDN invalidation and
//! notifications — implemented under the names of the workflow's activity contract.
//!
//! It must not orchestrate: ordering, parallelism and retries belong to the workflow.

mod attempt_deadline;
mod backfill;
mod backfill_loudness;
mod catalog;
mod dash_from_store;
mod deletion;
mod downloads;
pub mod error;
mod heartbeat;
mod import;
pub mod mail;
pub mod media;
pub mod notify;
mod processing;
mod reconcile;
pub mod source_cache;
mod source_digest;
pub mod storage;
mod transcode;
mod webhook;
mod withdraw;
pub mod worker;

use std::sync::Arc;

use rdkafka::producer::FutureProducer;
use sqlx::PgPool;
use vodflow_core::Config;

pub use import::ImportActivities;
pub use processing::ProcessingActivities;
pub use transcode::TranscodeActivities;

use crate::error::Error;
use crate::storage::Storage;

/// What the activities share: configuration and clients, built once per worker.
pub struct Deps {
    pub cfg: Arc<Config>,
    pub pool: PgPool,
    pub storage: Storage,
    pub producer: FutureProducer,
    /// Starts webhook delivery workflows when a video's processing ends.
    pub temporal: temporalio_client::Client,
    pub metrics: vodflow_core::metrics::WorkerMetrics,
}

impl Deps {
    pub async fn new(
        cfg: Config,
        temporal: temporalio_client::Client,
        metrics: vodflow_core::metrics::WorkerMetrics,
    ) -> Result<Arc<Self>, Error> {
        let pool = vodflow_core::repo::connect_lazy(&cfg)?;
        let work_dir: std::path::PathBuf = cfg.work_dir.clone().into();
        let storage = Storage {
            s3: vodflow_core::storage::s3_client(&cfg.s3),
            sources: source_cache::SourceCache::new(
                &work_dir,
                cfg.work_dir_max_bytes,
                cfg.work_dir_min_free_bytes,
            ),
            gate: vodflow_core::work_dir::Gate::new(&work_dir, cfg.work_dir_min_free_bytes),
            work_dir,
        };
        let producer =
            vodflow_core::kafka::producer(&cfg).map_err(|e| Error::Kafka(e.to_string()))?;
        Ok(Arc::new(Self {
            cfg: Arc::new(cfg),
            pool,
            storage,
            producer,
            temporal,
            metrics,
        }))
    }
}
