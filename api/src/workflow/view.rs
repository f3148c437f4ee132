//! `GET /v1/videos/{id}/workflow`: the video's processing as Temporal sees it.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use poem_openapi::{ApiResponse, Object, payload::Json};
use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowListOptions,
};
use vodflow_core::repo::VideoRow;
use vodflow_workflows::VideoProcessingWorkflow;

use crate::problem::ApiError;
use crate::progress::{Progress, live_progress};

#[derive(Object, Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    /// Temporal status: Running, Completed, Failed, Canceled, Terminated, TimedOut.
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug)]
pub struct WorkflowView {
    pub workflow_id: String,
    pub run_id: String,
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
    pub history_length: u64,
    /// Result of the workflow's `progress` query (absent when the run has closed).
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<Progress>,
    /// Every run of this workflow id, newest first (replays add runs).
    pub runs: Vec<RunInfo>,
    /// This workflow in the Temporal UI.
    pub temporal_ui: String,
}

#[derive(ApiResponse)]
pub enum WorkflowResponse {
    /// The workflow of the video's latest processing run.
    #[oai(status = 200)]
    Ok(Json<WorkflowView>),
}

fn utc(t: Option<SystemTime>) -> Option<DateTime<Utc>> {
    t.map(DateTime::<Utc>::from)
}

fn status_name(s: WorkflowExecutionStatus) -> String {
    format!("{s:?}")
}

/// The workflow view of `row`'s video; 404 while no run was started yet.
pub(super) async fn describe(
    client: &Client,
    row: &VideoRow,
    temporal_ui_url: &str,
    namespace: &str,
) -> Result<WorkflowView, ApiError> {
    let vid = row.video_id();
    let wid = vid.workflow_id();
    let d = client
        .get_workflow_handle::<VideoProcessingWorkflow>(wid.clone())
        .describe(WorkflowDescribeOptions::default())
        .await
        .map_err(|_| {
            ApiError::NotFound(format!(
                "video {vid} has no workflow yet (status {})",
                row.status
            ))
        })?;
    let mut runs = Vec::new();
    let mut list = client.list_workflows(
        format!("WorkflowId = '{wid}'"),
        WorkflowListOptions::builder().limit(50).build(),
    );
    while let Some(Ok(w)) = list.next().await {
        runs.push(RunInfo {
            run_id: w.run_id().to_owned(),
            status: status_name(w.status()),
            started_at: utc(w.start_time()),
            closed_at: utc(w.close_time()),
        });
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    Ok(WorkflowView {
        temporal_ui: format!(
            "{temporal_ui_url}/namespaces/{namespace}/workflows/{wid}/{}/history",
            d.run_id()
        ),
        workflow_id: wid,
        run_id: d.run_id().to_owned(),
        status: status_name(d.status()),
        started_at: utc(d.start_time()),
        closed_at: utc(d.close_time()),
        history_length: d.history_length() as u64,
        progress: live_progress(client, vid).await,
        runs,
    })
}
