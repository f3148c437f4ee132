//! The activity that failed a run, read from the run's history: the `ActivityTaskStarted` event of
//! its final attempt carries the attempt number, which nothing else reports. Read once, by the run
//! itself as it records its failure, so status reads never fetch a history.

use std::collections::HashMap;

use temporalio_client::Client;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use vodflow_core::VideoId;

use super::VideoProcessingWorkflow;

/// The id of the activity whose failure (or time-out) came last in the video's latest run, and the
/// attempts it made; `None` when the run had no failed activity or its history could not be read.
pub async fn failed_activity(client: &Client, id: VideoId) -> Option<(String, i32)> {
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(id.workflow_id());
    let events = h
        .fetch_history(Default::default())
        .into_events()
        .await
        .ok()?;
    let mut scheduled: HashMap<i64, String> = HashMap::new();
    let mut started: HashMap<i64, i32> = HashMap::new();
    let mut last = None;
    for e in &events {
        match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                scheduled.insert(e.event_id, a.activity_id.clone());
            }
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                started.insert(e.event_id, a.attempt);
            }
            Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                last = Some((a.scheduled_event_id, a.started_event_id));
            }
            Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                last = Some((a.scheduled_event_id, a.started_event_id));
            }
            _ => {}
        }
    }
    let (sched, start) = last?;
    Some((scheduled.get(&sched)?.clone(), *started.get(&start)?))
}
