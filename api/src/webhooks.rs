//! Owners' webhook endpoints: register (the secret is shown once), list, delete, the delivery log
//! with every attempt, and redelivery. Deliveries themselves run as Temporal workflows.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use temporalio_client::WorkflowIdReusePolicy;
use uuid::Uuid;
use vodflow_core::{net_guard, webhooks};

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Debug)]
pub(crate) struct NewWebhook {
    /// http(s) endpoint that receives the events (POST, JSON, signed).
    pub url: String,
    /// Events to receive: some of `video.ready`, `video.failed`, `video.deleted`,
    /// `video.playable` (the first seconds can be watched while the rest is encoded) and
    /// `video.updated` (its chapters or text tracks changed); the first three when omitted.
    pub events: Option<Vec<String>>,
}

#[derive(Object, Debug)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Verifies `Vodflow-Signature: t=…,v1=HMAC-SHA256(secret, "{t}.{body}")`. Shown only in the
    /// answer to the registration: store it then.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
}

#[derive(Object, Debug)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

#[derive(Object, Debug)]
pub struct Attempt {
    pub attempt: i32,
    /// The endpoint's HTTP status; absent when it could not be reached.
    #[oai(skip_serializing_if_is_none)]
    pub status_code: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    pub duration_ms: i32,
    pub at: DateTime<Utc>,
}

#[derive(Object, Debug)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    #[oai(skip_serializing_if_is_none)]
    pub video_id: Option<String>,
    /// pending (being retried), succeeded or failed (retries exhausted).
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub last_status_code: Option<i32>,
    pub attempts: Vec<Attempt>,
    /// The body that was (or will be) POSTed.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Object, Debug)]
pub struct DeliveryList {
    /// Newest first (the last 100).
    pub items: Vec<Delivery>,
}

#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// Registered. The secret is in this answer only.
    #[oai(status = 201)]
    Created(Json<Webhook>),
}

#[derive(ApiResponse)]
pub enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<WebhookList>),
}

#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// Removed, with its delivery log.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum DeliveriesResponse {
    #[oai(status = 200)]
    Ok(Json<DeliveryList>),
}

#[derive(ApiResponse)]
pub enum RedeliverResponse {
    /// Delivery started again (the log keeps counting its attempts).
    #[oai(status = 202)]
    Accepted(Json<Delivery>),
}

fn view(row: webhooks::WebhookRow, secret: Option<String>) -> Webhook {
    Webhook {
        id: row.id.to_string(),
        url: row.url,
        events: row.events,
        created_at: row.created_at,
        secret,
    }
}

fn parse(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid {what} id {raw:?}: expected a UUID")))
}

/// The webhook `raw` names, if it is the caller's (admins: anyone's); otherwise "not found".
async fn owned(
    state: &AppState,
    caller: &crate::auth::Caller,
    raw: &str,
) -> Result<webhooks::WebhookRow, ApiError> {
    let id = parse(raw, "webhook")?;
    webhooks::get(&state.pool, id, caller.owner_filter())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook {id}")))
}

/// The API view of delivery rows, each with its logged attempts.
async fn with_attempts(
    state: &AppState,
    rows: Vec<webhooks::DeliveryRow>,
) -> Result<Vec<Delivery>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|d| d.id).collect();
    let attempts = webhooks::attempts(&state.pool, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|d| Delivery {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| Attempt {
                    attempt: a.attempt,
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                    at: a.at,
                })
                .collect(),
            id: d.id.to_string(),
            event: d.event,
            video_id: d.video_id.map(|v| v.to_string()),
            status: d.status,
            last_status_code: d.last_status_code,
            payload: d.payload,
            created_at: d.created_at,
        })
        .collect())
}

async fn delivery_running(client: &temporalio_client::Client, delivery: Uuid) -> bool {
    let handle = client.get_workflow_handle::<vodflow_workflows::WebhookDeliveryWorkflow>(
        vodflow_workflows::webhook_delivery::workflow_id(delivery),
    );
    matches!(
        handle
            .describe(Default::default())
            .await
            .map(|d| d.status()),
        Ok(temporalio_client::WorkflowExecutionStatus::Running)
    )
}

#[derive(Default)]
pub struct WebhooksApi;

#[OpenApi(prefix_path = "/v1/webhooks", tag = "ApiTags::Videos")]
impl WebhooksApi {
    /// Register an endpoint for `video.ready`, `video.failed`, `video.deleted` (and, when asked
    /// for, `video.playable` and `video.updated`) events of your videos. URLs resolving to private, loopback or link-local addresses are refused.
    #[oai(path = "/", method = "post", operation_id = "createWebhook")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewWebhook>,
    ) -> ApiResult<CreatedResponse> {
        auth.0.require(SCOPE_WRITE)?;
        if body.url.len() > 2048 {
            return Err(ApiError::BadRequest("url is longer than 2048 characters".into()).into());
        }
        let url = net_guard::check_url(body.url.trim(), state.cfg.webhooks.allow_private)
            .await
            .map_err(|e| ApiError::BadRequest(format!("url refused: {e}")))?
            .url;
        let events = match &body.events {
            None => webhooks::DEFAULT_EVENTS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            Some(list) if list.is_empty() => {
                return Err(ApiError::BadRequest("events must not be empty".into()).into());
            }
            Some(list) => {
                if let Some(bad) = list
                    .iter()
                    .find(|e| !webhooks::EVENTS.contains(&e.as_str()))
                {
                    return Err(ApiError::BadRequest(format!(
                        "unknown event {bad:?}; expected some of {:?}",
                        webhooks::EVENTS
                    ))
                    .into());
                }
                let mut l = list.clone();
                l.sort();
                l.dedup();
                l
            }
        };
        let max = state.cfg.edge.webhooks_per_owner;
        let have = webhooks::count(&state.pool, &auth.0.sub).await?;
        if have >= max {
            return Err(ApiError::Conflict(format!(
                "you have {have} webhook endpoints, the limit (VODFLOW_MAX_WEBHOOKS_PER_OWNER); delete one first"
            ))
            .into());
        }
        let secret = webhooks::new_secret("whsec_");
        let row =
            webhooks::insert(&state.pool, &auth.0.sub, url.as_str(), &secret, &events).await?;
        tracing::info!(webhook = %row.id, url = %row.url, "webhook registered");
        Ok(CreatedResponse::Created(Json(view(row, Some(secret)))))
    }

    /// Your endpoints (secrets are never shown again).
    #[oai(path = "/", method = "get", operation_id = "listWebhooks")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<ListResponse> {
        auth.0.require(SCOPE_READ)?;
        let rows = webhooks::list(&state.pool, auth.0.owner_filter()).await?;
        Ok(ListResponse::Ok(Json(WebhookList {
            items: rows.into_iter().map(|r| view(r, None)).collect(),
        })))
    }

    /// Remove an endpoint and its delivery log.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<DeletedResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let hook = owned(&state, &auth.0, &id.0).await?;
        webhooks::delete(&state.pool, hook.id, auth.0.owner_filter()).await?;
        Ok(DeletedResponse::Deleted)
    }

    /// The delivery log: each event sent to this endpoint, its status and every attempt.
    #[oai(
        path = "/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<DeliveriesResponse> {
        auth.0.require(SCOPE_READ)?;
        let hook = owned(&state, &auth.0, &id.0).await?;
        let rows = webhooks::deliveries(&state.pool, hook.id).await?;
        Ok(DeliveriesResponse::Ok(Json(DeliveryList {
            items: with_attempts(&state, rows).await?,
        })))
    }

    /// Send a delivery again (after fixing the endpoint): a new run of its delivery workflow, with
    /// the same retry schedule. 409 while it is still being retried.
    #[oai(
        path = "/:id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliverWebhook"
    )]
    async fn redeliver(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        delivery_id: Path<String>,
    ) -> ApiResult<RedeliverResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let hook = owned(&state, &auth.0, &id.0).await?;
        let delivery = parse(&delivery_id.0, "delivery")?;
        let row = webhooks::delivery(&state.pool, delivery)
            .await?
            .filter(|d| d.webhook_id == hook.id)
            .ok_or_else(|| ApiError::NotFound(format!("no delivery {delivery}")))?;
        let current = with_attempts(&state, vec![row])
            .await?
            .pop()
            .ok_or_else(|| ApiError::NotFound(format!("no delivery {delivery}")))?;
        let client = state.temporal().await?;
        // Pending with a running workflow: still being retried. Pending without one (its start
        // failed, e.g. Temporal was down during a delete): redelivering is how it gets sent.
        if current.status == "pending" && delivery_running(&client, delivery).await {
            return Err(ApiError::Conflict(format!(
                "delivery {delivery} is still being retried; wait for it to succeed or fail"
            ))
            .into());
        }
        webhooks::set_status(&state.pool, delivery, "pending").await?;
        vodflow_workflows::webhook_delivery::start(
            &state.cfg,
            &client,
            delivery,
            WorkflowIdReusePolicy::AllowDuplicate,
        )
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot start the delivery: {e}")))?;
        let mut d = current;
        d.status = "pending".into();
        Ok(RedeliverResponse::Accepted(Json(d)))
    }
}
