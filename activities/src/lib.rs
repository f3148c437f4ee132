//! vodflow-activities: every side effect of processing a video — reading the source from S3,
//! probing and encoding with FFmpeg, publishing renditions, Postgres metadata, CDN invalidation and
//! notifications — implemented under the names of the workflow's activity contract.
//!
//! It must not orchestrate: ordering, parallelism and retries belong to the workflow.

mod attempt_deadline;
pub mod deliver;
pub mod error;
mod heartbeat;
pub mod lifecycle;
pub mod media;
pub mod publish;
pub mod source;
pub mod storage;
pub mod worker;

use std::sync::Arc;

use rdkafka::producer::FutureProducer;
use sqlx::PgPool;
use vodflow_core::Config;

pub use deliver::DeliverActivities;
pub use lifecycle::LifecycleActivities;
pub use media::MediaActivities;
pub use media::transcode::TranscodeActivities;
pub use publish::PublishActivities;
pub use source::ImportActivities;

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
            sources: source::cache::SourceCache::new(
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
