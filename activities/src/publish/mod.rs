//! Publishing a run's work: the playlists and the DASH manifest written over the encoded
//! segments (master last), and the video's row in the catalog.
#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_core::layout;
use vodflow_workflows::contract;
use vodflow_workflows::types::*;

use crate::Deps;
use crate::attempt_deadline;
use crate::error::Error;
use crate::media::package;
use vodflow_core::caching::Caching;

pub(crate) mod catalog;
pub(crate) mod dash_from_store;
pub(crate) mod withdraw;

/// The publishing activities of the `video-processing` queue.
pub struct PublishActivities(pub Arc<Deps>);

#[activities]
impl PublishActivities {
    #[activity(definition = contract::def::publish::Package)]
    pub async fn package(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: Package,
    ) -> Result<Packaged, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let mut job = job;
            // A growing package's attempt that outlived its timeout must not write: the final
            // package may have replaced its playlists already. (A final package's late attempt
            // writes what the final one wrote.)
            let deadline = if job.growing {
                ctx.info().deadline
            } else {
                None
            };
            if job.chunks.is_empty() && job.chunk_count > 0 {
                job.chunks = chunk_manifests(&self.0.storage, &job).await?;
            }
            if let Some(audio) = job.audio.as_mut()
                && audio.segments.is_empty()
            {
                let key = layout::audio_manifest_key(job.video_id, job.generation);
                let bytes = self
                    .0
                    .storage
                    .get_bytes(&job.bucket, &key)
                    .await?
                    .ok_or_else(|| {
                        Error::Package(format!("the audio has no segment list ({key})"))
                    })?;
                audio.segments = serde_json::from_slice(&bytes)?;
            }
            // Every further audio track's list, from the store alike.
            if let Some(audio) = job.audio.as_mut() {
                for t in audio.tracks.iter_mut().filter(|t| t.track.index > 0 && t.segments.is_empty()) {
                    let key = layout::audio_track_manifest_key(job.video_id, job.generation, &t.track.rendition());
                    let bytes = self.0.storage.get_bytes(&job.bucket, &key).await?.ok_or_else(|| {
                        Error::Package(format!("audio track {} has no segment list ({key})", t.track.index))
                    })?;
                    t.segments = serde_json::from_slice(&bytes)?;
                }
            }
            let lists = package::build(&job).map_err(Error::Package)?;
            // A growing package writes under the playlist lock, and not at all once the run has
            // ended without a video: the ending withdraws what was written before it.
            let _writing = if job.growing {
                match crate::publish::withdraw::growing_writer(&self.0.pool, job.video_id).await? {
                    Some(lock) => Some(lock),
                    None => {
                        tracing::info!(video_id = %job.video_id, "run ended: growing playlists not written");
                        return Ok(Packaged {
                            master_key: layout::master_playlist_key(job.video_id),
                            renditions: lists.renditions,
                        });
                    }
                }
            } else {
                None
            };
            let store = &self.0.storage;
            let cache = if job.growing {
                Caching::Growing
            } else {
                Caching::Mutable
            };
            for (name, text) in &lists.media {
                let key = layout::playlist_key(job.video_id, job.generation, name);
                let put = store.put_bytes(
                    &job.bucket,
                    &key,
                    text.clone().into_bytes(),
                    "application/vnd.apple.mpegurl",
                    cache,
                );
                attempt_deadline::before(deadline, &key, put).await?;
            }
            // The DASH manifest names the same segments: written before the master, recorded
            // after it, so it is listed only once what it names is published.
            if let Some(mpd) = &lists.dash {
                let key = layout::dash_manifest_key(job.video_id);
                store
                    .put_bytes(
                        &job.bucket,
                        &key,
                        mpd.clone().into_bytes(),
                        vodflow_core::dash::CONTENT_TYPE,
                        cache,
                    )
                    .await?;
            }
            // The master goes last: once it exists, everything it names exists.
            let master_key = layout::master_playlist_key(job.video_id);
            let put = store.put_bytes(
                &job.bucket,
                &master_key,
                lists.master.into_bytes(),
                "application/vnd.apple.mpegurl",
                cache,
            );
            attempt_deadline::before(deadline, &master_key, put).await?;
            if lists.dash.is_some() {
                vodflow_core::repo::set_dash(&self.0.pool, job.video_id, job.generation).await?;
            }
            Ok(Packaged {
                master_key,
                renditions: lists.renditions,
            })
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::publish::UpdateMetadata)]
    pub async fn update_metadata(
        self: Arc<Self>,
        _ctx: ActivityContext,
        u: UpdateMetadata,
    ) -> Result<(), ActivityError> {
        async move {
            catalog::apply(&self.0, &u).await?;
            let finished = match &u.update {
                MetadataUpdate::Processing { .. } | MetadataUpdate::Playable { .. } => None,
                MetadataUpdate::Failed { step, .. } => Some(("failed", step.as_str())),
                MetadataUpdate::Cancelled => Some(("cancelled", "cancelled")),
                MetadataUpdate::Ready { .. } => Some(("ready", "done")),
            };
            if let Some((status, step)) = finished {
                self.0
                    .metrics
                    .videos_finished
                    .with_label_values(&[status, step])
                    .inc();
            }
            // The run is over for this source here: this worker's copy is no longer needed
            // (transcode workers' copies age out of their cache budget).
            if !matches!(
                u.update,
                MetadataUpdate::Processing { .. } | MetadataUpdate::Playable { .. }
            ) {
                self.0.storage.sources.remove(u.video_id).await;
            }
            Ok(())
        }
        .await
        .map_err(Error::into_activity)
    }
}

/// Every chunk's manifest, read from the store (a few at a time), in chunk order.
async fn chunk_manifests(
    store: &crate::storage::Storage,
    job: &Package,
) -> Result<Vec<ChunkEncoded>, Error> {
    use futures::{StreamExt, TryStreamExt};
    let mut chunks: Vec<ChunkEncoded> = futures::stream::iter(0..job.chunk_count)
        .map(|index| async move {
            let key = layout::chunk_manifest_key(job.video_id, job.generation, index);
            let bytes = store
                .get_bytes(&job.bucket, &key)
                .await?
                .ok_or_else(|| Error::Package(format!("chunk {index} has no manifest ({key})")))?;
            Ok::<_, Error>(serde_json::from_slice::<ChunkEncoded>(&bytes)?)
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    chunks.sort_by_key(|c| c.index);
    Ok(chunks)
}
