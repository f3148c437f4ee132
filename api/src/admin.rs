//! Operator endpoints (`videos:admin`): the day after an outage, replay every failed encode at once.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use vodflow_core::VideoStatus;
use vodflow_core::repo;

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_ADMIN};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub(crate) struct BulkReprocess {
    /// `failed` (default) or `cancelled`.
    pub status: Option<String>,
    /// Only videos that reached that status at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only failures whose reason contains this text (case-insensitive).
    pub reason_contains: Option<String>,
    /// At most this many videos (1 to 1000, default 100).
    pub limit: Option<u32>,
}

#[derive(Object, Debug)]
pub struct BulkOutcome {
    pub id: String,
    /// `started`, or why not.
    pub outcome: String,
}

#[derive(Object, Debug)]
pub struct BulkReprocessResult {
    pub started: u32,
    pub videos: Vec<BulkOutcome>,
}

#[derive(ApiResponse)]
pub enum BulkResponse {
    /// What was replayed.
    #[oai(status = 200)]
    Ok(Json<BulkReprocessResult>),
}

#[derive(Default)]
pub struct AdminApi;

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Videos")]
impl AdminApi {
    /// Replay every failed (or cancelled) video matching the filter, any owner. Needs `videos:admin`.
    #[oai(path = "/reprocess", method = "post", operation_id = "bulkReprocess")]
    async fn bulk_reprocess(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        filter: Json<BulkReprocess>,
    ) -> ApiResult<BulkResponse> {
        if !auth.0.has(SCOPE_ADMIN) {
            return Err(ApiError::MissingScope(SCOPE_ADMIN).into());
        }
        let status = match filter.status.as_deref().unwrap_or("failed") {
            "failed" => VideoStatus::Failed,
            "cancelled" => VideoStatus::Cancelled,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "status {other:?}: only failed or cancelled videos are replayed"
                ))
                .into());
            }
        };
        let limit = filter.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()).into());
        }
        let rows = repo::replayable_videos(
            &state.pool,
            status,
            filter.since,
            filter.reason_contains.as_deref(),
            i64::from(limit),
        )
        .await?;
        let mut videos = Vec::with_capacity(rows.len());
        let mut started = 0;
        for row in rows {
            let id = row.id.to_string();
            let outcome = match crate::workflow::replay(&state, row, false).await {
                Ok(_) => {
                    started += 1;
                    "started".to_owned()
                }
                Err(e) => e.to_string(),
            };
            videos.push(BulkOutcome { id, outcome });
        }
        tracing::info!(started, by = %auth.0.sub, "bulk reprocess");
        Ok(BulkResponse::Ok(Json(BulkReprocessResult {
            started,
            videos,
        })))
    }
}
