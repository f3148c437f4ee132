//! The encode stage of a run: every chunk of every rung in a window of encodes in flight, the
//! audio once, the poster alongside, and the growing publisher packaging the finished start of the
//! timeline meanwhile. One failure (or a cancel) ends the stage at once.

use crate::types::*;
use temporalio_sdk::WorkflowContext;
use temporalio_sdk::workflows::join_all;
use vodflow_core::ladder::{
    Rendition, chunk_seconds_for, plan_chunks, plan_chunks_short_first,
    plan_chunks_short_first_whole_tail, plan_renditions,
};

use super::{
    DEFAULT_IN_FLIGHT, HEAD_START, PATCH_BOUNDED_ENCODES, PATCH_HISTORY_BOUND,
    PATCH_PLAYABLE_EARLY, PATCH_SHORT_TOGETHER, PATCH_WHOLE_TAIL, StepFailure, Stop,
    VideoProcessingWorkflow, heavy, reason, timeline_priority,
};
use crate::contract::{Media, Transcode, activity_id as aid};

/// What the encode stage hands to packaging.
pub(super) struct Encoded {
    pub renditions: Vec<Rendition>,
    pub chunk_count: u32,
    /// The run keeps a window of encodes in flight and `package` reads the chunk manifests
    /// (runs started before `bounded-encodes-v1` hand the results over instead).
    pub bounded: bool,
    /// The run is `playable` early: a short first chunk, the poster made alongside the encodes.
    pub early: bool,
    pub encoded: Vec<ChunkEncoded>,
    pub audio: Option<AudioEncoded>,
}

impl VideoProcessingWorkflow {
    pub(super) async fn encode_stage(
        ctx: &mut WorkflowContext<Self>,
        input: &ProcessVideo,
        source: &SourceRef,
        info: &SourceInfo,
    ) -> Result<Encoded, Stop> {
        let renditions = plan_renditions(info.width, info.height);
        let early = ctx.patched(PATCH_PLAYABLE_EARLY);
        // Asked only of sources long enough to need it, so other runs' histories are unchanged.
        let capped = chunk_seconds_for(info.duration_ms, input.chunk_seconds);
        let chunk_seconds = if capped != input.chunk_seconds && ctx.patched(PATCH_HISTORY_BOUND) {
            capped
        } else {
            input.chunk_seconds
        };
        let chunks = if early && ctx.patched(PATCH_WHOLE_TAIL) {
            plan_chunks_short_first_whole_tail(info.duration_ms, chunk_seconds)
        } else if early {
            plan_chunks_short_first(info.duration_ms, chunk_seconds)
        } else {
            plan_chunks(info.duration_ms, chunk_seconds)
        };
        // Only a run of more than two chunks holds the rest back while the first and the audio
        // start (`patched` is asked only then, so older two-chunk runs replay with their timer).
        let hold_rest = early && !(chunks.len() <= 2 && ctx.patched(PATCH_SHORT_TOGETHER));
        ctx.state_mut(|s| {
            s.progress.renditions = renditions.iter().map(|r| r.name.clone()).collect();
            s.progress.chunks = chunks
                .iter()
                .map(|c| ChunkProgress {
                    index: c.index,
                    state: EncodeState::Queued,
                })
                .collect();
            s.progress.audio = info.audio_codec.as_ref().map(|_| EncodeState::Queued);
        });
        Self::step(ctx, step::ENCODE)?;
        Self::step_progress(ctx, step::ENCODE, 5.0);

        // Runs started before this change scheduled every chunk at once and handed their results
        // to `package`; they replay that way. New runs keep a window of encodes in flight and let
        // `package` read the chunk manifests, so a 12-hour source stays far from Temporal's
        // pending-activity and payload limits.
        let bounded = ctx.patched(PATCH_BOUNDED_ENCODES);
        let window = match input.max_in_flight {
            _ if !bounded => chunks.len().max(1),
            0 => DEFAULT_IN_FLIGHT,
            n => n as usize,
        };
        let transcode_queue = Some(input.transcode_queue.clone());
        let total = chunks.len().max(1) as f64;
        let chunk_futures = chunks.iter().map(|chunk| {
            let ctx = ctx.clone();
            let mut opts = heavy(
                aid::encode_chunk(chunk.index),
                transcode_queue.clone(),
                input,
            );
            if early {
                opts.priority = Some(timeline_priority(chunk.index));
            }
            let args = EncodeChunk {
                source: source.clone(),
                info: info.clone(),
                chunk: chunk.clone(),
                renditions: renditions.clone(),
                generation: input.generation,
                // Every chunk of a run is encoded alike: chunk 0's init segment speaks for all.
                bframes: early,
                reuse_from: input.reuse_video_from,
            };
            let index = chunk.index as usize;
            async move {
                // The first chunk and the audio make the video playable: they go to the queue
                // alone, so idle workers take them before anything else (a queue's partitions
                // hand out tasks scheduled together in no particular order).
                if hold_rest
                    && index > 0
                    && ctx.wait_condition(|s| s.head_start_over).await.is_err()
                {
                    ctx.state_mut(|s| {
                        s.cancel_requested
                            .get_or_insert_with(|| "workflow cancelled".to_owned());
                    });
                    std::future::pending::<()>().await;
                }
                if bounded {
                    // A place in the window; the check and the taking happen in one poll, so
                    // however the waiters are woken, no more than `window` get one.
                    loop {
                        if ctx
                            .wait_condition(move |s| s.encodes_in_flight < window)
                            .await
                            .is_err()
                        {
                            // The workflow is being cancelled: the stage's `stop` ends it; this
                            // chunk must not start.
                            ctx.state_mut(|s| {
                                s.cancel_requested
                                    .get_or_insert_with(|| "workflow cancelled".to_owned());
                            });
                            std::future::pending::<()>().await;
                        }
                        let taken = ctx.state_mut(|s| {
                            let free = s.encodes_in_flight < window;
                            if free {
                                s.encodes_in_flight += 1;
                            }
                            free
                        });
                        if taken {
                            break;
                        }
                    }
                }
                let r = ctx
                    .execute_activity(Transcode::encode_chunk, args, opts)
                    .await;
                ctx.state_mut(|s| {
                    if bounded {
                        s.encodes_in_flight -= 1;
                    }
                    if let Err(e) = &r {
                        let f = reason(step::ENCODE_CHUNK, e);
                        s.encode_failure.get_or_insert((f.step, f.reason));
                    }
                    s.progress.chunks[index].state = if r.is_ok() {
                        EncodeState::Done
                    } else {
                        EncodeState::Failed
                    };
                    let done = s
                        .progress
                        .chunks
                        .iter()
                        .filter(|c| c.state == EncodeState::Done)
                        .count() as f64;
                    s.progress.percent = 5.0 + 80.0 * done / total;
                });
                r
            }
        });
        let audio = async {
            if info.audio_codec.is_none() {
                return Ok(None);
            }
            let r = ctx
                .execute_activity(
                    Transcode::encode_audio,
                    EncodeAudio {
                        source: source.clone(),
                        info: info.clone(),
                        generation: input.generation,
                    },
                    {
                        let mut o = heavy(aid::ENCODE_AUDIO.into(), transcode_queue.clone(), input);
                        o.priority = early.then(|| timeline_priority(0));
                        o
                    },
                )
                .await;
            ctx.state_mut(|s| {
                match &r {
                    Err(e) => {
                        let f = reason(step::ENCODE_AUDIO, e);
                        s.encode_failure.get_or_insert((f.step, f.reason));
                    }
                    Ok(a) => s.audio_encoded = a.clone(),
                }
                s.progress.audio = Some(if r.is_ok() {
                    EncodeState::Done
                } else {
                    EncodeState::Failed
                })
            });
            r
        };
        // The poster needs nothing of the encodes: made alongside them, it leaves the tail.
        let poster = async {
            if !early {
                return Ok(());
            }
            let r = ctx
                .execute_activity(
                    Media::create_poster,
                    CreatePoster {
                        source: source.clone(),
                        info: info.clone(),
                        generation: input.generation,
                    },
                    heavy(aid::POSTER.into(), None, input),
                )
                .await
                .map(|_| ());
            if let Err(e) = &r {
                let f = reason(step::CREATE_POSTER, e);
                ctx.state_mut(|s| {
                    s.encode_failure.get_or_insert((f.step, f.reason));
                });
            }
            r
        };
        let head_start = async {
            if hold_rest {
                let _ = ctx.timer(HEAD_START).await;
            }
            ctx.state_mut(|s| s.head_start_over = true);
        };
        let encodes = async {
            let (done, ()) = futures::future::join(
                futures::future::join3(join_all(chunk_futures), audio, poster),
                head_start,
            )
            .await;
            ctx.state_mut(|s| s.encodes_over = true);
            done
        };
        // A forced re-encode (a later generation) keeps the finished master until the new one is
        // whole: viewers never get a shorter, growing version of a video that was ready.
        let publisher = async {
            if early && input.generation == 0 {
                Self::publish_growing(ctx, input, info, &renditions, chunks.len() as u32).await;
            }
        };
        let mut encodes = std::pin::pin!(futures::FutureExt::fuse(futures::future::join(
            encodes, publisher
        )));
        // Fail fast: one failed chunk (or a cancel) ends the stage; waiting for the others would
        // only delay the failure (and could wait forever when no transcode worker is left).
        let mut stop = std::pin::pin!(
            ctx.wait_condition(|s| s.encode_failure.is_some() || s.cancel_requested.is_some())
        );
        let ((chunk_results, audio, poster), ()) = temporalio_sdk::workflows::select! {
            done = encodes => done,
            _ = stop => {
                return Err(match ctx.state(|s| s.encode_failure.clone()) {
                    Some((step, reason)) => Stop::Failed(StepFailure { step, reason }),
                    None => Stop::Cancelled,
                });
            }
        };
        let mut encoded = Vec::with_capacity(chunk_results.len());
        for r in chunk_results {
            encoded.push(r.map_err(|e| Stop::Failed(reason(step::ENCODE_CHUNK, &e)))?);
        }
        let audio = audio.map_err(|e| Stop::Failed(reason(step::ENCODE_AUDIO, &e)))?;
        poster.map_err(|e| Stop::Failed(reason(step::CREATE_POSTER, &e)))?;
        Ok(Encoded {
            chunk_count: chunks.len() as u32,
            // Still lent to the stage's futures, which live to the end of this scope.
            renditions: renditions.clone(),
            bounded,
            early,
            encoded,
            audio,
        })
    }
}
