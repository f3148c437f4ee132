//! `create_downloads`: the downloads a video asks for (its row's `downloads`, read when the
//! activity runs, so a later `POST /v1/videos/{id}/downloads` is honoured by the next run), each a
//! progressive MP4 (`moov` first) remuxed from the generation's published CMAF segments, never
//! re-encoded: a rung's video with the audio, `highest.mp4` (the top rung's file), `audio.m4a`.

use std::path::Path;

use temporalio_sdk::activities::ActivityContext;
use vodflow_core::downloads::{self, Choice, Download};
use vodflow_core::{layout, repo};
use vodflow_workflows::types::CreateDownloads;

use crate::Deps;
use crate::error::{Error, Result};
use crate::heartbeat::{heartbeat_every, heartbeating, silent};
use crate::media::contain::Containment;
use crate::media::ffmpeg_cli;
use crate::media::source::file_url;
use vodflow_core::caching::Caching;

/// Makes and stores the downloads, then records them for the generation (an empty list for
/// `none`, which also withdraws a previous generation's from `playback`).
pub(crate) async fn make(
    deps: &Deps,
    ctx: &ActivityContext,
    job: &CreateDownloads,
) -> Result<Vec<Download>> {
    let Some(row) = repo::get_video(&deps.pool, job.video_id, None).await? else {
        return Ok(Vec::new()); // deleted meanwhile
    };
    let choice: Choice = row.downloads.parse().unwrap_or_default();
    let store = &deps.storage;
    let has_audio = store
        .get_bytes(
            &job.bucket,
            &layout::playlist_key(job.video_id, job.generation, "audio"),
        )
        .await?
        .is_some();
    let rungs: Vec<(String, u32, u32)> = job
        .renditions
        .iter()
        .map(|r| (r.name.clone(), r.width, r.height))
        .collect();
    let wanted = downloads::wanted(choice, &rungs, has_audio);
    let mut made = Vec::new();
    if !wanted.rungs.is_empty() || wanted.audio {
        let scratch = store.scratch("downloads")?;
        let contain = Containment::for_media(&deps.cfg.ffmpeg, job.duration_ms as f64 / 1000.0);
        let audio_in = scratch.join("audio.mp4");
        if has_audio {
            scratch
                .guard(heartbeating(
                    ctx,
                    "gather",
                    deps.storage.concat_rendition(
                        &job.bucket,
                        job.video_id,
                        job.generation,
                        "audio",
                        None,
                        &audio_in,
                    ),
                ))
                .await?;
        }
        let audio = has_audio.then_some(audio_in.as_path());
        for name in &wanted.rungs {
            let (_, width, height) = rungs
                .iter()
                .find(|(n, _, _)| n == name)
                .cloned()
                .unwrap_or_default();
            let video_in = scratch.join("video.mp4");
            scratch
                .guard(heartbeating(
                    ctx,
                    "gather",
                    deps.storage.concat_rendition(
                        &job.bucket,
                        job.video_id,
                        job.generation,
                        name,
                        None,
                        &video_in,
                    ),
                ))
                .await?;
            let object = format!("{name}.mp4");
            let out = scratch.join(&object);
            scratch
                .guard(remux(ctx, &contain, Some(&video_in), audio, &out))
                .await?;
            let bytes = store_download(deps, job, &object, &out, "video/mp4").await?;
            tokio::fs::remove_file(&video_in).await.ok();
            tokio::fs::remove_file(&out).await.ok();
            let d = Download {
                name: name.clone(),
                object,
                bytes,
                width,
                height,
            };
            if wanted.highest.as_deref() == Some(name.as_str()) {
                made.push(Download {
                    name: "highest".into(),
                    ..d.clone()
                });
            }
            // `highest` alone lists the top rung under that name only: one URL per download.
            if choice == Choice::All {
                made.push(d);
            }
        }
        if wanted.audio {
            let object = "audio.m4a".to_owned();
            let out = scratch.join(&object);
            scratch
                .guard(remux(ctx, &contain, None, audio, &out))
                .await?;
            let bytes = store_download(deps, job, &object, &out, "audio/mp4").await?;
            made.push(Download {
                name: "audio".into(),
                object,
                bytes,
                width: 0,
                height: 0,
            });
        }
    }
    // A newer request replaced this run (its workflow was terminated, but an activity learns of
    // it only at its next heartbeat): the video's choice now is that request's, and so is the
    // list to record.
    let now = repo::get_video(&deps.pool, job.video_id, None)
        .await?
        .map(|r| r.downloads.parse::<Choice>().unwrap_or_default());
    if now != Some(choice) {
        return Err(Error::Cancelled);
    }
    repo::record_downloads(&deps.pool, job.video_id, job.generation, &made).await?;
    Ok(made)
}

/// The arguments of one remux: streams copied, `moov` moved to the front.
pub(crate) fn remux_args(video: Option<&Path>, audio: Option<&Path>, out: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for input in video.iter().chain(audio.iter()) {
        args.extend(["-f", "mp4", "-protocol_whitelist", "file", "-i"].map(str::to_owned));
        args.push(file_url(input));
    }
    if video.is_some() {
        args.extend(["-map", "0:v:0"].map(str::to_owned));
    }
    if let Some(n) = audio.map(|_| usize::from(video.is_some())) {
        args.extend(["-map".to_owned(), format!("{n}:a:0")]);
    }
    args.extend(["-c", "copy", "-movflags", "+faststart", "-f", "mp4"].map(str::to_owned));
    args.push(file_url(out));
    args
}

async fn remux(
    ctx: &ActivityContext,
    contain: &Containment,
    video: Option<&Path>,
    audio: Option<&Path>,
    out: &Path,
) -> Result<()> {
    if video.is_none() && audio.is_none() {
        return Err(Error::InvalidMedia("a download of nothing".into()));
    }
    ffmpeg_cli::run(
        "download remux",
        &remux_args(video, audio, out),
        contain,
        heartbeat_every(ctx),
        silent,
        || ctx.is_cancelled(),
    )
    .await?;
    Ok(())
}

async fn store_download(
    deps: &Deps,
    job: &CreateDownloads,
    object: &str,
    file: &Path,
    content_type: &str,
) -> Result<u64> {
    let bytes = tokio::fs::metadata(file).await?.len();
    if bytes == 0 {
        return Err(Error::EncodeUnusable(format!(
            "the download {object} came out empty"
        )));
    }
    let key = layout::download_key(job.video_id, job.generation, object);
    deps.storage
        .put_file(&job.bucket, &key, file, content_type, Caching::Immutable)
        .await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rung_with_audio_maps_both_inputs_and_audio_alone_its_only_one() {
        let v = Path::new("/w/v.mp4");
        let a = Path::new("/w/a.mp4");
        let both = remux_args(Some(v), Some(a), Path::new("/w/720p.mp4")).join(" ");
        assert_eq!(
            both,
            "-f mp4 -protocol_whitelist file -i file:/w/v.mp4 -f mp4 -protocol_whitelist file -i file:/w/a.mp4 \
             -map 0:v:0 -map 1:a:0 -c copy -movflags +faststart -f mp4 file:/w/720p.mp4"
        );
        let audio = remux_args(None, Some(a), Path::new("/w/audio.m4a")).join(" ");
        assert!(audio.contains("-map 0:a:0 -c copy"), "{audio}");
        assert!(!audio.contains("0:v"), "{audio}");
    }
}
