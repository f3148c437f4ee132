//! `backfill_page` and `backfill_video`: the activities of `BackfillWorkflow`. A video is brought up
//! to date with each output it lacks for the generation it shows, from its published segments;
//! one deleted (or no longer ready) by its turn is skipped.

use temporalio_sdk::activities::ActivityContext;
use vodflow_core::backfill::{After, Outcome, Output, Page, VideoJob};
use vodflow_core::ladder::Rendition;
use vodflow_core::{VideoStatus, layout, repo};
use vodflow_workflows::types::{CreateDownloads, CreateStoryboard};

use crate::Deps;
use crate::error::Result;
use crate::lifecycle::backfill_loudness::Evened;
use vodflow_core::caching::Caching;

pub(crate) async fn page(deps: &Deps, page: &Page) -> Result<Vec<After>> {
    Ok(repo::backfill::ready_after(&deps.pool, page).await?)
}

pub(crate) async fn video(deps: &Deps, ctx: &ActivityContext, job: &VideoJob) -> Result<Outcome> {
    let id = job.video_id;
    // Loudness makes a new generation, with every output of its own: nothing else is left to do
    // for the video once it is done.
    if job.outputs.contains(&Output::Loudness) {
        match crate::lifecycle::backfill_loudness::even_out(deps, ctx, &job.bucket, id).await? {
            Evened::Done => return Ok(Outcome::Updated(vec![Output::Loudness])),
            Evened::Skipped(why) => return Ok(Outcome::Skipped(why)),
            Evened::AlreadyEven => {}
        }
    }
    // Read again before each output: a deletion that lands meanwhile stops the rest.
    let ready = || async {
        Ok::<_, crate::error::Error>(
            repo::get_video(&deps.pool, id, None)
                .await?
                .filter(|r| r.status() == VideoStatus::Ready),
        )
    };
    let Some(row) = ready().await? else {
        return Ok(Outcome::Skipped("deleted or no longer ready".into()));
    };
    let generation = u32::try_from(row.published_generation.unwrap_or(row.generation)).unwrap_or(0);
    let shown = i32::try_from(generation).ok();
    let renditions: Vec<Rendition> = repo::renditions(&deps.pool, id)
        .await?
        .into_iter()
        .filter(|r| r.kind == "video")
        .filter_map(|r| {
            Some(Rendition {
                name: r.playlist_key.rsplit('/').nth(1)?.to_owned(),
                width: u32::try_from(r.width).ok()?,
                height: u32::try_from(r.height).ok()?,
                video_kbps: 0,
                profile: String::new(),
            })
        })
        .collect();
    let duration_ms = row
        .duration_ms
        .and_then(|d| u64::try_from(d).ok())
        .unwrap_or(0);
    let mut made = Vec::new();
    for output in &job.outputs {
        if ready().await?.is_none() {
            return Ok(Outcome::Skipped(
                "deleted while being brought up to date".into(),
            ));
        }
        match output {
            Output::Storyboard if row.storyboard_generation != shown => {
                let job = CreateStoryboard {
                    video_id: id,
                    bucket: job.bucket.clone(),
                    generation,
                    duration_ms,
                    renditions: renditions.clone(),
                };
                crate::media::storyboard_made(deps, ctx, &job).await?;
                repo::set_storyboard(&deps.pool, id, generation).await?;
                made.push(*output);
            }
            Output::Dash if row.dash_generation != shown => {
                if let Some(mpd) = crate::publish::dash_from_store::manifest(
                    deps,
                    ctx,
                    &job.bucket,
                    id,
                    generation,
                )
                .await?
                {
                    deps.storage
                        .put_bytes(
                            &job.bucket,
                            &layout::dash_manifest_key(id),
                            mpd.into_bytes(),
                            vodflow_core::dash::CONTENT_TYPE,
                            Caching::Mutable,
                        )
                        .await?;
                    repo::set_dash(&deps.pool, id, generation).await?;
                    made.push(*output);
                }
            }
            Output::Downloads if row.downloads != "none" && row.downloads_generation != shown => {
                let job = CreateDownloads {
                    video_id: id,
                    bucket: job.bucket.clone(),
                    generation,
                    duration_ms,
                    renditions: renditions.clone(),
                };
                crate::media::downloads::make(deps, ctx, &job).await?;
                made.push(*output);
            }
            // Storyboard, DASH and downloads already there; the masters with text tracks are
            // written when served.
            _ => {}
        }
    }
    Ok(if made.is_empty() {
        Outcome::UpToDate
    } else {
        Outcome::Updated(made)
    })
}
