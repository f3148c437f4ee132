//! Liveness and readiness. Readiness makes one real request to each backing service, concurrently,
//! each bounded by a timeout, and names what is down.

use std::time::Duration;

use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, payload::PlainText};
use rdkafka::producer::Producer;
use vodflow_core::Config;

use crate::{ApiTags, state::AppState};

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Object, Debug)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: String,
    /// Each backing service with `ok` or the reason it failed.
    pub checks: std::collections::BTreeMap<String, String>,
    /// Names of the services that are down, for humans and alerting.
    pub down: Vec<String>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every backing service answered.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one backing service is down; `down` names it.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

#[derive(Default)]
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is up and serving requests.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }

    /// Readiness: PostgreSQL, Temporal, Kafka and S3 all answer a real request.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: poem::web::Data<&AppState>) -> ReadyResponse {
        let r = check_all(state.0).await;
        if r.down.is_empty() {
            ReadyResponse::Ready(Json(r))
        } else {
            ReadyResponse::NotReady(Json(r))
        }
    }
}

pub async fn check_all(state: &AppState) -> Readiness {
    let (pg, temporal, kafka, s3) = tokio::join!(
        bounded(check_postgres(state)),
        bounded(check_temporal(&state.cfg)),
        bounded(check_kafka(state)),
        bounded(check_s3(state)),
    );
    let mut checks = std::collections::BTreeMap::new();
    let mut down = Vec::new();
    for (name, res) in [
        ("postgres", pg),
        ("temporal", temporal),
        ("kafka", kafka),
        ("s3", s3),
    ] {
        match res {
            Ok(()) => {
                checks.insert(name.to_owned(), "ok".to_owned());
            }
            Err(e) => {
                tracing::warn!(service = name, error = %e, "readiness check failed");
                checks.insert(name.to_owned(), e);
                down.push(name.to_owned());
            }
        }
    }
    let status = if down.is_empty() {
        "ready"
    } else {
        "not ready"
    }
    .to_owned();
    Readiness {
        status,
        checks,
        down,
    }
}

async fn bounded(f: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())))
}

async fn check_postgres(state: &AppState) -> Result<(), String> {
    sqlx::query("SELECT 1")
        .execute(&state.pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn check_temporal(cfg: &Config) -> Result<(), String> {
    // Connecting performs GetSystemInfo: a real round trip to the frontend.
    vodflow_core::temporal::connect(cfg, "readyz")
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn check_kafka(state: &AppState) -> Result<(), String> {
    let producer = state.producer.clone();
    tokio::task::spawn_blocking(move || {
        let md = producer
            .client()
            .fetch_metadata(None, CHECK_TIMEOUT - Duration::from_millis(500))
            .map_err(|e| e.to_string())?;
        if md.brokers().is_empty() {
            Err("no brokers in metadata".to_owned())
        } else {
            Ok(())
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn check_s3(state: &AppState) -> Result<(), String> {
    state
        .s3
        .head_bucket()
        .bucket(&state.cfg.s3.bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "bucket {}: {}",
                state.cfg.s3.bucket,
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })
}
