//! `GET /v1/videos/{id}/events`: server-sent events of status and progress changes until the video
//! is ready, failed or cancelled, so a client need not poll. (Polling stays the documented baseline;
//! this is built on the same reads.)

use std::time::Duration;

use futures::stream::BoxStream;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::EventStream;
use poem_openapi::{ApiResponse, Object, OpenApi};
use vodflow_core::repo;

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ};
use crate::problem::ApiResult;
use crate::state::AppState;
use crate::videos::visible;

const POLL: Duration = Duration::from_millis(500);

#[derive(Object, Debug, Clone, PartialEq)]
pub struct VideoEvent {
    /// uploaded, processing, ready, failed, cancelled or deleted.
    pub status: String,
    /// Processing step while processing.
    #[oai(skip_serializing_if_is_none)]
    pub step: Option<String>,
    /// Overall percent while processing.
    #[oai(skip_serializing_if_is_none)]
    pub percent: Option<f64>,
    /// Failure reason once failed.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

#[derive(ApiResponse)]
pub enum EventsResponse {
    /// A `text/event-stream` of changes, ending with the final status.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, VideoEvent>>),
}

#[derive(Default)]
pub struct EventsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Videos")]
impl EventsApi {
    /// Follow a video's status and progress as server-sent events until it is final.
    #[oai(
        path = "/videos/:id/events",
        method = "get",
        operation_id = "videoEvents"
    )]
    async fn events(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<EventsResponse> {
        auth.0.require(SCOPE_READ)?;
        let id = visible(&state, &auth.0, &id.0).await?.video_id();
        let owner = auth.0.owner_filter().map(str::to_owned);
        // Held by the stream: the place is given back when the client goes away or it ends.
        let slot = std::sync::Arc::new(state.limits.event_streams.acquire(&auth.0.sub, 10)?);
        let state = state.0.clone();
        let stream = futures::stream::unfold((None::<VideoEvent>, false), move |(last, done)| {
            let state = state.clone();
            let owner = owner.clone();
            let _slot = slot.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    if last.is_some() {
                        tokio::time::sleep(POLL).await;
                    }
                    let row = match repo::get_video(&state.pool, id, owner.as_deref()).await {
                        Ok(Some(r)) => r,
                        // Deleted (or the database is gone): end the stream.
                        _ => return None,
                    };
                    let terminal = row.status().is_terminal();
                    let processing = row.status().is_processing();
                    let mut ev = VideoEvent {
                        status: row.status.clone(),
                        step: None,
                        percent: None,
                        reason: row.failure_reason,
                    };
                    if processing
                        && let Some(p) = crate::progress::progress_for_status(&state, id).await
                    {
                        ev.step = Some(p.step);
                        ev.percent = Some(p.percent);
                    }
                    if last.as_ref() != Some(&ev) {
                        return Some((ev.clone(), (Some(ev), terminal)));
                    }
                }
            }
        });
        Ok(EventsResponse::Ok(
            EventStream::new(Box::pin(stream) as BoxStream<'static, VideoEvent>)
                .keep_alive(Duration::from_secs(15)),
        ))
    }
}
