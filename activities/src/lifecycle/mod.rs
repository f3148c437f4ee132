//! A video's life after its first run: deletion (stop, remove, announce), the reconciler's
//! repairs, and backfills that bring ready videos up to date.
#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_workflows::contract;
use vodflow_workflows::types::*;

use crate::Deps;
use crate::error::Error;

pub(crate) mod backfill;
pub(crate) mod backfill_loudness;
pub(crate) mod deletion;
pub(crate) mod reconcile;

/// The lifecycle activities of the `video-processing` queue.
pub struct LifecycleActivities(pub Arc<Deps>);

#[activities]
impl LifecycleActivities {
    #[activity(definition = contract::def::lifecycle::StopProcessing)]
    pub async fn stop_processing(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeleteVideo,
    ) -> Result<bool, ActivityError> {
        deletion::stop_processing(&self.0.temporal, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::lifecycle::RemoveObjects)]
    pub async fn remove_objects(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeleteVideo,
    ) -> Result<VideoRemoved, ActivityError> {
        self.0.storage.sources.remove(job.video_id).await;
        deletion::remove_objects(&self.0.storage.s3, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::lifecycle::AnnounceDeleted)]
    pub async fn announce_deleted(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeleteVideo,
    ) -> Result<u32, ActivityError> {
        deletion::announce_deleted(&self.0, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::lifecycle::Reconcile)]
    pub async fn reconcile(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: Reconcile,
    ) -> Result<Reconciled, ActivityError> {
        let d = &self.0;
        reconcile::pass(&d.cfg, &d.pool, &d.temporal, &d.storage.s3, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::lifecycle::BackfillPage)]
    pub async fn backfill_page(
        self: Arc<Self>,
        _ctx: ActivityContext,
        page: vodflow_core::backfill::Page,
    ) -> Result<Vec<vodflow_core::backfill::After>, ActivityError> {
        backfill::page(&self.0, &page)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::lifecycle::BackfillVideo)]
    pub async fn backfill_video(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: vodflow_core::backfill::VideoJob,
    ) -> Result<vodflow_core::backfill::Outcome, ActivityError> {
        async move {
            let outcome = backfill::video(&self.0, &ctx, &job).await?;
            tracing::info!(video_id = %job.video_id, ?outcome, "backfilled");
            Ok(outcome)
        }
        .await
        .map_err(Error::into_activity)
    }
}
