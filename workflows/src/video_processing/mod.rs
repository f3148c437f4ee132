//! `VideoProcessingWorkflow`: probe → plan → encode every chunk in parallel (+ audio once, + the
//! poster) → package → metadata `ready` → CDN invalidation → notification. While the encodes run,
//! the finished prefix of the timeline is packaged as growing playlists: the video is `playable`
//! once the first (short) chunk of every rung and the audio are done. Deterministic: all I/O is
//! in activities, all configuration arrives in the input.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

pub mod types;

use std::time::Duration;

mod encode_stage;
mod failed_activity;
mod growing;
mod start;

use encode_stage::Encoded;

pub use failed_activity::failed_activity;
pub use start::{Run, run_status, start_run};

use crate::types::*;
use temporalio_common::error::IncomingError;
use temporalio_common::{Priority, RetryPolicy};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCloseTimeouts, ActivityExecutionError, ActivityOptions, ApplicationFailure,
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult, workflows::join_all,
};
use vodflow_core::VideoStatus;

use crate::contract::{Deliver, INVALID_MEDIA, Import, Media, Publish, activity_id as aid};
use crate::search_attributes::VIDEO_STATUS;

/// The change that bounded the encodes in flight and moved chunk results out of `package`'s input.
const PATCH_BOUNDED_ENCODES: &str = "bounded-encodes-v1";
/// The change that gave each notification channel its own activity.
const PATCH_NOTIFY_PER_CHANNEL: &str = "notify-per-channel-v1";
/// The change that made videos playable early: a one-segment first chunk, growing `EVENT`
/// playlists while the encodes run, and the poster made alongside the encodes.
const PATCH_PLAYABLE_EARLY: &str = "playable-early-v1";
/// The change that encodes a last chunk of under a second with the chunk before it (such a tail
/// can hold no frame, and its encode failed with "produced 0 fragments").
const PATCH_WHOLE_TAIL: &str = "whole-tail-v1";
/// The change that queues the two chunks of a short source together: both fit a worker's
/// transcode slots, so the head start only left a slot idle for a second (a 20 s source was ready
/// 1.25x slower than one ffmpeg process).
const PATCH_SHORT_TOGETHER: &str = "short-together-v1";
/// The change that keeps a long source's history under Temporal's warning line: at most
/// `ladder::MAX_CHUNKS` chunks (longer chunks for longer sources) and at most
/// [`GROWING_PACKAGES`] growing packages per run.
const PATCH_HISTORY_BOUND: &str = "history-bound-v1";
/// Runs make a storyboard once every chunk is encoded, before `ready`.
const PATCH_STORYBOARD: &str = "storyboard-v1";
/// Runs since then remux the downloads their video asks for before `ready`.
const PATCH_DOWNLOADS: &str = "downloads-v1";
/// Growing packages a run makes at most (after the first, which makes it playable); each costs
/// the history about six events, and a viewer of a long source gains nothing from a playlist
/// rewritten after every one of its hundreds of chunks.
const GROWING_PACKAGES: u32 = 50;
/// How long the first chunk and the audio are alone in the transcode queue.
const HEAD_START: Duration = Duration::from_secs(1);
/// Attempts of one import at most: a source that failed three times is not going to work, and
/// each attempt may take its share of the deadline.
const IMPORT_ATTEMPTS: i32 = 3;
/// Encodes in flight when the starter did not say.
const DEFAULT_IN_FLIGHT: usize = 64;

/// Records the video's status on the run, for the Temporal UI's filters.
fn mark(ctx: &WorkflowContext<VideoProcessingWorkflow>, status: VideoStatus) {
    ctx.upsert_search_attributes([VIDEO_STATUS.value_set(status.as_str().to_owned())]);
}

#[workflow]
#[derive(Default)]
pub struct VideoProcessingWorkflow {
    progress: Progress,
    cancel_requested: Option<String>,
    /// First encode failure (step, reason): ends the encode stage without waiting for the rest.
    encode_failure: Option<(&'static str, String)>,
    /// Chunk encodes scheduled and not yet finished (runs with bounded encodes).
    encodes_in_flight: usize,
    /// The audio's result, once encoded (what a growing package needs of it).
    audio_encoded: Option<AudioEncoded>,
    /// Chunks of the timeline's start packaged as growing playlists so far.
    published: u32,
    /// The first chunk and the audio have had their head start: the other encodes may be queued.
    head_start_over: bool,
    /// The video was recorded `playable` (its news sent once).
    playable_marked: bool,
    /// Every encode of the stage has finished: growing packages stop; the final one follows.
    encodes_over: bool,
}

impl VideoProcessingWorkflow {
    /// How many chunks from the start are encoded with nothing missing before them, once the audio
    /// (if any) is done too: what a growing package may list.
    fn playable_prefix(&self) -> u32 {
        if self.progress.audio.is_some_and(|a| a != EncodeState::Done) {
            return 0;
        }
        self.progress
            .chunks
            .iter()
            .take_while(|c| c.state == EncodeState::Done)
            .count() as u32
    }
}

/// Why a run stopped short: the step and a reason a person can act on.
struct StepFailure {
    step: &'static str,
    reason: String,
}

enum Stop {
    Failed(StepFailure),
    Cancelled,
}

fn retry(max_attempts: i32) -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(30))
        .maximum_attempts(max_attempts.max(1) as u32)
        .non_retryable_error_types([INVALID_MEDIA])
        .build()
}

fn light(id: &str, max_attempts: i32) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(5 * 60))
        .activity_id(id.to_owned())
        .retry_policy(retry(max_attempts))
        .build()
}

/// One notification channel's attempt: a few bounded network calls (SMTP 20 s, HTTP 10 s, Kafka
/// 5 s), so a worker that dies mid-send is noticed within a minute, not [`light`]'s five.
fn notify_opts(id: &str, max_attempts: i32) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
        .activity_id(id.to_owned())
        .retry_policy(retry(max_attempts))
        .build()
}

/// Database writes: retried on a time budget rather than a count, so a Postgres restart or
/// failover of many minutes is ridden out instead of failing the run (and stranding the video).
fn db(id: &str) -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(60 * 60),
        start_to_close: Duration::from_secs(60),
    })
    .activity_id(id.to_owned())
    .retry_policy(
        RetryPolicy::builder()
            .initial_interval(Duration::from_secs(1))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(30))
            .non_retryable_error_types([INVALID_MEDIA])
            .build(),
    )
    .build()
}

/// Long activities: they heartbeat, so a dead worker is noticed within the heartbeat timeout.
fn heavy(id: String, queue: Option<String>, input: &ProcessVideo) -> ActivityOptions {
    let b = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(2 * 60 * 60))
        .activity_id(id)
        .heartbeat_timeout(Duration::from_secs(input.heartbeat_timeout_s.max(1)))
        .retry_policy(retry(input.max_attempts));
    match queue {
        Some(q) => b.task_queue(q).build(),
        None => b.build(),
    }
}

/// Task-queue priority of the encode of chunk `index`: the first chunk (and the audio) make the
/// video playable, so they go before anything else; the rest share one level. Levels are global
/// to the queue: timeline bands (as runs had before) put every later band of a 10 s clip behind
/// the earliest band of another owner's 12-hour source, for hours. Within a level an owner's tasks
/// leave in the order they were scheduled (the window schedules in timeline order), and owners
/// share dispatch by fairness key ([`start`]'s `owner_fairness`).
fn timeline_priority(index: u32) -> Priority {
    let mut p = Priority::default();
    p.priority_key = Some(if index == 0 { 1 } else { 2 });
    p
}

/// Options of `import_source`: on its own queue, within the import deadline (every attempt
/// together), heartbeating. Runs started before imports had a queue keep the heavy options.
fn import_opts(input: &ProcessVideo) -> ActivityOptions {
    if input.import_queue.is_empty() {
        return heavy(aid::IMPORT.into(), None, input);
    }
    let deadline = Duration::from_secs(input.import_deadline_s.max(1));
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: deadline,
        start_to_close: deadline,
    })
    .activity_id(aid::IMPORT.to_owned())
    .task_queue(input.import_queue.clone())
    .heartbeat_timeout(Duration::from_secs(input.heartbeat_timeout_s.max(1)))
    .retry_policy(retry(input.max_attempts.min(IMPORT_ATTEMPTS)))
    .build()
}

/// The message a person reads in Postgres and the API: the root application failure's text.
fn reason(step: &'static str, e: &ActivityExecutionError) -> StepFailure {
    let reason = match e {
        ActivityExecutionError::Failed(f) => match f.cause() {
            Some(IncomingError::Application(app)) => app.to_string(),
            Some(IncomingError::Timeout(t)) => format!("timed out ({:?})", t.timeout_type()),
            Some(other) => other.to_string(),
            None => f.failure().message.clone(),
        },
        ActivityExecutionError::Cancelled(_) => "cancelled".to_owned(),
        other => other.to_string(),
    };
    StepFailure { step, reason }
}

#[workflow_methods]
impl VideoProcessingWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ProcessVideo,
    ) -> WorkflowResult<ProcessOutcome> {
        let id = input.video_id;
        mark(ctx, VideoStatus::Processing);
        ctx.execute_activity(
            Publish::update_metadata,
            UpdateMetadata {
                video_id: id,
                update: MetadataUpdate::Processing {
                    attempt: input.attempt,
                },
            },
            db(aid::METADATA_PROCESSING),
        )
        .await?;

        match Self::process(ctx, &input).await {
            Ok(packaged) => {
                mark(ctx, VideoStatus::Ready);
                Self::step_progress(ctx, step::DONE, 100.0);
                Ok(ProcessOutcome {
                    status: VideoStatus::Ready,
                    master_key: Some(packaged.master_key),
                    reason: None,
                })
            }
            Err(Stop::Cancelled) => {
                ctx.execute_activity(
                    Publish::update_metadata,
                    UpdateMetadata {
                        video_id: id,
                        update: MetadataUpdate::Cancelled,
                    },
                    db(aid::METADATA_CANCELLED),
                )
                .await?;
                mark(ctx, VideoStatus::Cancelled);
                Ok(ProcessOutcome {
                    status: VideoStatus::Cancelled,
                    master_key: None,
                    reason: None,
                })
            }
            Err(Stop::Failed(f)) => {
                let message = format!("{} failed: {}", f.step, f.reason);
                ctx.execute_activity(
                    Publish::update_metadata,
                    UpdateMetadata {
                        video_id: id,
                        update: MetadataUpdate::Failed {
                            step: f.step.to_owned(),
                            reason: f.reason.clone(),
                        },
                    },
                    db(aid::METADATA_FAILED),
                )
                .await?;
                mark(ctx, VideoStatus::Failed);
                // The owner hears about failures too; a notification problem must not hide the cause.
                Self::notify(
                    ctx,
                    &input,
                    VideoStatus::Failed,
                    Some(message.clone()),
                    vec![],
                )
                .await;
                // Failing the run makes the encode visible as failed in the Temporal UI.
                Err(ApplicationFailure::non_retryable(message).into())
            }
        }
    }

    async fn process(
        ctx: &mut WorkflowContext<Self>,
        input: &ProcessVideo,
    ) -> Result<Packaged, Stop> {
        let id = input.video_id;
        let max = input.max_attempts;
        let mut source = SourceRef {
            video_id: id,
            bucket: input.bucket.clone(),
            key: input.source_key.clone(),
            size: input.size,
        };

        // Only imports have this step, and only their histories have its commands.
        if let Some(url) = &input.source_url {
            Self::step(ctx, step::IMPORT_SOURCE)?;
            let imported = ctx
                .execute_activity(
                    Import::import_source,
                    ImportSource {
                        video_id: id,
                        bucket: input.bucket.clone(),
                        key: input.source_key.clone(),
                        url: url.clone(),
                    },
                    import_opts(input),
                )
                .await
                .map_err(|e| Stop::Failed(reason(step::IMPORT_SOURCE, &e)))?;
            source.size = imported.size;
        }

        Self::step(ctx, step::PROBE_SOURCE)?;
        let info = ctx
            .execute_activity(
                Media::probe_source,
                source.clone(),
                heavy(aid::PROBE.into(), None, input),
            )
            .await
            .map_err(|e| Stop::Failed(reason(step::PROBE_SOURCE, &e)))?;

        let Encoded {
            renditions,
            chunk_count,
            bounded,
            early,
            encoded,
            audio,
        } = Self::encode_stage(ctx, input, &source, &info).await?;

        Self::step(ctx, step::PACKAGE)?;
        Self::step_progress(ctx, step::PACKAGE, 88.0);
        let packaged = ctx
            .execute_activity(
                Publish::package,
                Package {
                    video_id: id,
                    bucket: input.bucket.clone(),
                    info: info.clone(),
                    renditions: renditions.clone(),
                    chunk_count: if bounded { chunk_count } else { 0 },
                    chunks: if bounded { Vec::new() } else { encoded },
                    audio,
                    generation: input.generation,
                    growing: false,
                },
                light(aid::PACKAGE, max),
            )
            .await
            .map_err(|e| Stop::Failed(reason(step::PACKAGE, &e)))?;

        if !early {
            Self::step(ctx, step::CREATE_POSTER)?;
            Self::step_progress(ctx, step::CREATE_POSTER, 92.0);
            ctx.execute_activity(
                Media::create_poster,
                CreatePoster {
                    source: source.clone(),
                    info: info.clone(),
                    generation: input.generation,
                },
                heavy(aid::POSTER.into(), None, input),
            )
            .await
            .map_err(|e| Stop::Failed(reason(step::CREATE_POSTER, &e)))?;
        }

        if ctx.patched(PATCH_STORYBOARD) {
            Self::step(ctx, step::CREATE_STORYBOARD)?;
            Self::step_progress(ctx, step::CREATE_STORYBOARD, 93.0);
            // A video without a storyboard still plays: a failure here is reported, not fatal.
            let _ = ctx
                .execute_activity(
                    Media::create_storyboard,
                    CreateStoryboard {
                        video_id: id,
                        bucket: input.bucket.clone(),
                        generation: input.generation,
                        duration_ms: info.duration_ms,
                        renditions: renditions.clone(),
                    },
                    heavy(aid::STORYBOARD.into(), None, input),
                )
                .await;
        }

        if ctx.patched(PATCH_DOWNLOADS) {
            Self::step(ctx, step::CREATE_DOWNLOADS)?;
            Self::step_progress(ctx, step::CREATE_DOWNLOADS, 94.0);
            // The video plays without them: a failure is reported (and the downloads can be
            // asked for again with POST /v1/videos/{id}/downloads), not fatal.
            let _ = ctx
                .execute_activity(
                    Media::create_downloads,
                    CreateDownloads {
                        video_id: id,
                        bucket: input.bucket.clone(),
                        generation: input.generation,
                        duration_ms: info.duration_ms,
                        renditions: renditions.clone(),
                    },
                    heavy(aid::DOWNLOADS.into(), None, input),
                )
                .await;
        }

        Self::step(ctx, step::UPDATE_METADATA)?;
        Self::step_progress(ctx, step::UPDATE_METADATA, 95.0);
        ctx.execute_activity(
            Publish::update_metadata,
            UpdateMetadata {
                video_id: id,
                update: MetadataUpdate::Ready {
                    info: info.clone(),
                    renditions: packaged.renditions.clone(),
                    generation: input.generation,
                },
            },
            db(aid::METADATA_READY),
        )
        .await
        .map_err(|e| Stop::Failed(reason(step::UPDATE_METADATA, &e)))?;

        // Past this point the video is ready: CDN and notification problems are reported, not fatal.
        Self::step_progress(ctx, step::INVALIDATE_CDN, 97.0);
        let _ = ctx
            .execute_activity(
                Deliver::invalidate_cdn,
                InvalidateCdn { video_id: id },
                light(aid::INVALIDATE_CDN, max),
            )
            .await;
        Self::step_progress(ctx, step::NOTIFY, 99.0);
        let names = renditions.iter().map(|r| r.name.clone()).collect();
        Self::notify(ctx, input, VideoStatus::Ready, None, names).await;
        Ok(packaged)
    }

    /// `video_playable` on Kafka and `video.playable` to the webhooks that asked for it; no mail
    /// and no callback (those are for the outcome).
    async fn notify_playable(ctx: &WorkflowContext<Self>, input: &ProcessVideo) {
        let sends = [NotifyChannel::Event, NotifyChannel::Webhooks].map(|channel| {
            let ctx = ctx.clone();
            // Two attempts at most: the stage (and so `ready`) waits for this news.
            let opts = notify_opts(&aid::notify_playable(channel), 2);
            let n = Notify {
                video_id: input.video_id,
                owner: input.owner.clone(),
                status: VideoStatus::Playable,
                reason: None,
                renditions: Vec::new(),
                callback_url: None,
                channel: Some(channel),
                attempt: input.attempt,
            };
            async move {
                let _ = ctx.execute_activity(Deliver::notify, n, opts).await;
            }
        });
        join_all(sends).await;
    }

    /// Tells the owner (event, webhooks, mail, callback). Problems are reported by the activities,
    /// never fatal: the video's status is already recorded.
    async fn notify(
        ctx: &WorkflowContext<Self>,
        input: &ProcessVideo,
        status: VideoStatus,
        reason: Option<String>,
        renditions: Vec<String>,
    ) {
        let all = Notify {
            video_id: input.video_id,
            owner: input.owner.clone(),
            status,
            reason,
            renditions,
            callback_url: input.callback_url.clone(),
            channel: None,
            attempt: input.attempt,
        };
        // Runs of older code notified every channel in one activity; new ones use one activity
        // per channel, so a failing callback never repeats the event or the mail.
        if !ctx.patched(PATCH_NOTIFY_PER_CHANNEL) {
            let _ = ctx
                .execute_activity(Deliver::notify, all, light(aid::NOTIFY, input.max_attempts))
                .await;
            return;
        }
        let sends = NotifyChannel::ALL.iter().map(|channel| {
            let ctx = ctx.clone();
            let opts = notify_opts(&aid::notify(*channel), input.max_attempts);
            let n = Notify {
                channel: Some(*channel),
                ..all.clone()
            };
            async move {
                let _ = ctx.execute_activity(Deliver::notify, n, opts).await;
            }
        });
        join_all(sends).await;
    }

    /// Records the step and stops here if a cancel was requested.
    fn step(ctx: &WorkflowContext<Self>, step: &str) -> Result<(), Stop> {
        ctx.state_mut(|s| s.progress.step = step.to_owned());
        if ctx.state(|s| s.cancel_requested.is_some()) {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }

    fn step_progress(ctx: &WorkflowContext<Self>, step: &str, percent: f64) {
        ctx.state_mut(|s| {
            s.progress.step = step.to_owned();
            s.progress.percent = s.progress.percent.max(percent);
        });
    }

    /// Per-chunk state, renditions and overall percent.
    #[query]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> Progress {
        self.progress.clone()
    }

    /// Stop at the next step boundary; the video ends `cancelled`.
    #[signal]
    pub fn cancel(&mut self, _ctx: &mut SyncWorkflowContext<Self>, reason: String) {
        self.cancel_requested = Some(reason);
    }
}
