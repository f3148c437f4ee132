//! The growing publisher: while the encodes run, the finished start of the timeline is packaged
//! as growing playlists, and the first package makes the video `playable`.

use crate::types::*;
use temporalio_sdk::WorkflowContext;
use vodflow_core::VideoStatus;

use super::{GROWING_PACKAGES, PATCH_HISTORY_BOUND, VideoProcessingWorkflow, db, light, mark};
use crate::contract::{Publish, activity_id as aid};

impl VideoProcessingWorkflow {
    /// Packages the finished start of the timeline as growing playlists whenever it gets longer,
    /// one package at a time, until the encodes are over (the final package follows them, so a
    /// growing one never overwrites it). The first one makes the video `playable`. A failed
    /// growing package only delays watching: the video still becomes ready.
    pub(super) async fn publish_growing(
        ctx: &WorkflowContext<Self>,
        input: &ProcessVideo,
        info: &SourceInfo,
        renditions: &[vodflow_core::ladder::Rendition],
        total: u32,
    ) {
        // A long run republishes every `step` chunks rather than after each (asked only of runs
        // with more chunks than packages, so shorter runs' histories are unchanged).
        let step = if total > GROWING_PACKAGES && ctx.patched(PATCH_HISTORY_BOUND) {
            total.div_ceil(GROWING_PACKAGES)
        } else {
            1
        };
        loop {
            let wait = ctx.wait_condition(move |s| {
                let prefix = s.playable_prefix();
                s.encodes_over
                    || prefix > s.published && (s.published == 0 || prefix >= s.published + step)
            });
            if wait.await.is_err() || ctx.state(|s| s.encodes_over) {
                return;
            }
            let upto = ctx.state(|s| s.playable_prefix());
            if upto >= total {
                // Everything is encoded: the final package is next.
                return;
            }
            let first = ctx.state(|s| !s.playable_marked);
            let packaged = ctx
                .execute_activity(
                    Publish::package,
                    Package {
                        video_id: input.video_id,
                        bucket: input.bucket.clone(),
                        info: info.clone(),
                        renditions: renditions.to_vec(),
                        chunk_count: upto,
                        chunks: Vec::new(),
                        audio: ctx.state(|s| s.audio_encoded.clone()),
                        generation: input.generation,
                        growing: true,
                    },
                    light(&aid::package_growing(upto), 2),
                )
                .await;
            ctx.state_mut(|s| s.published = upto);
            if packaged.is_err() || !first {
                continue;
            }
            let playable = ctx
                .execute_activity(
                    Publish::update_metadata,
                    UpdateMetadata {
                        video_id: input.video_id,
                        update: MetadataUpdate::Playable {
                            attempt: input.attempt,
                        },
                    },
                    db(aid::METADATA_PLAYABLE),
                )
                .await;
            if playable.is_ok() {
                ctx.state_mut(|s| s.playable_marked = true);
                mark(ctx, VideoStatus::Playable);
                Self::notify_playable(ctx, input).await;
            }
        }
    }
}
