use std::sync::Arc;

use rdkafka::producer::FutureProducer;
use sqlx::PgPool;
use vodflow_core::Config;

use crate::auth::Verifier;
use crate::problem::ApiError;
use crate::telemetry::Metrics;

/// Everything a request handler needs, shared through poem's `Data`. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    /// Bearer-token verification (HS256 secret or the issuer's cached JWKS).
    pub auth: Arc<Verifier>,
    pub pool: PgPool,
    pub s3: aws_sdk_s3::Client,
    /// Shared with the outbox relay; also answers readiness's metadata request.
    pub producer: FutureProducer,
    pub metrics: Metrics,
    /// Wakes the outbox relay right after an upload commits, instead of waiting for its next poll.
    pub relay_wakeup: Arc<tokio::sync::Notify>,
    /// Connected on first use, so the api starts (and reports unreadiness) while Temporal is down.
    pub temporal: Arc<tokio::sync::OnceCell<temporalio_client::Client>>,
    /// Keeps status reads off Temporal while it (or its workers) cannot answer quickly.
    pub temporal_breaker: Arc<crate::progress::Breaker>,
    /// Progress answers shared by concurrent and repeated status reads of a video.
    pub progress_answers: Arc<crate::progress::SharedAnswers<Option<crate::progress::Progress>>>,
    /// Per-owner limits on uploads, event streams and reprocess calls.
    pub limits: Arc<crate::limits::Limits>,
    /// The per-owner upload limit, across every replica.
    pub upload_streams: Arc<crate::owner_streams::OwnerStreams>,
    /// On-demand thumbnails and animations being made, and the slots to make them in.
    pub(crate) images: Arc<crate::play::ImageMaker>,
}

impl AppState {
    /// The Temporal client, connected on first use; 503 while Temporal cannot be reached.
    pub async fn temporal(&self) -> Result<temporalio_client::Client, ApiError> {
        self.temporal
            .get_or_try_init(|| vodflow_core::temporal::connect(&self.cfg, "api"))
            .await
            .cloned()
            .map_err(|e| ApiError::Unavailable(format!("Temporal is unavailable: {e}")))
    }

    /// The store's side of the object at `key`, for every upload path's multipart work.
    pub fn part_store(&self, key: &str) -> vodflow_core::ingest::S3PartStore {
        vodflow_core::ingest::S3PartStore::new(&self.s3, &self.cfg.s3.bucket, key)
    }
}
