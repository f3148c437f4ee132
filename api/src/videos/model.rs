//! The video resource as the API shows it: status, metadata, links, failure, playback URLs.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use vodflow_core::playback::{self, Visibility};
use vodflow_core::repo::{self, VideoRow};
use vodflow_core::{Config, VideoId, VideoStatus, layout};

use crate::progress::Progress;

#[derive(Object, Debug, Clone)]
pub struct Links {
    /// This video.
    #[oai(rename = "self")]
    pub self_: String,
    /// Its processing workflow as Temporal sees it.
    pub workflow: String,
    /// HLS master playlist (playable once the video is `ready`); signed and expiring unless the
    /// video is public.
    pub playback: String,
}

#[derive(Object, Debug, Clone)]
pub struct RenditionUrl {
    /// Rung name (`720p`) or `audio`.
    pub name: String,
    /// The rendition's media playlist.
    pub url: String,
    #[oai(skip_serializing_if_is_none)]
    pub width: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub height: Option<i32>,
    /// Peak bits per second, as in the master playlist.
    pub bandwidth: i32,
    pub codecs: String,
}

/// A progressive file to download (remuxed from the segments, `moov` first).
#[derive(Object, Debug, Clone)]
pub struct DownloadUrl {
    /// A rung (`720p`), `highest` or `audio`.
    pub name: String,
    pub url: String,
    pub bytes: i64,
    /// 0 for `audio`.
    pub width: i32,
    pub height: i32,
}

/// Where to play a ready video from.
#[derive(Object, Debug, Clone)]
pub struct Playback {
    /// HLS master playlist (all renditions, adaptive).
    pub master: String,
    /// DASH manifest (`manifest.mpd`) over the same CMAF segments as `master`, with exact segment
    /// times; text tracks are its text adaptation sets. Published at `ready` (a `playable` video
    /// plays through `master`); absent for videos packaged before DASH existed.
    #[oai(skip_serializing_if_is_none)]
    pub dash: Option<String>,
    /// Each rendition's own media playlist.
    pub renditions: Vec<RenditionUrl>,
    /// Poster image (JPEG).
    pub poster: String,
    /// The chapters as WebVTT (`PUT /v1/videos/{id}/chapters`), when the video has any.
    #[oai(skip_serializing_if_is_none)]
    pub chapters: Option<String>,
    /// A page with just the player, for an `<iframe>` on any site (signed and expiring like these
    /// URLs for `signed` videos).
    pub embed: String,
    /// Storyboard: a WebVTT file whose cues cover the video, each pointing at a tile of a sprite
    /// sheet (`storyboard-N.jpg#xywh=x,y,w,h`), for seek-bar previews. Absent for videos made
    /// before storyboards existed, until they are re-encoded.
    #[oai(skip_serializing_if_is_none)]
    pub storyboard: Option<String>,
    /// One frame on demand (also `.png`, `.webp`): `?time=S&width=W&height=H&fit_mode=preserve|crop|pad`
    /// (time to 1/60 s, default the poster's; sides 16–1920 px, default 1280 wide). Made on the
    /// first request, then served from the store.
    pub thumbnail: String,
    /// An animated preview on demand (also `.gif`): `?start=&end=&width=&fps=` (at most 10 s,
    /// 640 px wide, 30 fps; default the first 5 s, 320 wide, 15 fps).
    pub animated: String,
    /// Subtitles and captions (`POST /v1/videos/{id}/text-tracks`), each as WebVTT; also in the
    /// master as a `SUBTITLES` group.
    pub text_tracks: Vec<super::text_tracks::TextTrackView>,
    /// Downloads (`download/720p.mp4`, `download/highest.mp4`, `download/audio.m4a`), as chosen at
    /// upload (`downloads`) or later (`POST /v1/videos/{id}/downloads`); empty while none are made.
    pub downloads: Vec<DownloadUrl>,
    /// When these URLs stop working (signed videos only); fetch the video again for fresh ones.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the loudness measurement found (EBU R128) and the one gain applied to the audio.
#[derive(Object, Debug, Clone)]
pub struct LoudnessView {
    /// Integrated loudness of the source's programme, LUFS.
    pub input_lufs: f64,
    /// Its true peak, dBTP.
    pub input_true_peak_dbtp: f64,
    /// The linear gain applied, dB.
    pub gain_db: f64,
    /// The loudness aimed at, LUFS.
    pub target_lufs: f64,
    /// The gain was held back to keep the true peak under -1 dBTP (or by the +30 dB cap): the
    /// audio is quieter than the target rather than clipped or compressed.
    pub limited: bool,
}

#[derive(Object, Debug, Clone)]
pub struct Failure {
    /// Why processing failed, in words a person can act on.
    pub reason: String,
    /// The step that failed (e.g. `probe_source`).
    #[oai(skip_serializing_if_is_none)]
    pub step: Option<String>,
    /// The failing activity (e.g. `encode-chunk-0003`), from the run's Temporal history.
    #[oai(skip_serializing_if_is_none)]
    pub activity_id: Option<String>,
    /// How many attempts it made before the run gave up.
    #[oai(skip_serializing_if_is_none)]
    pub attempts: Option<i32>,
}

#[derive(Object, Debug, Clone)]
pub struct Video {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub description: String,
    /// uploaded, processing, playable (still processing, its first seconds watchable through
    /// `playback`), ready, failed, cancelled or deleted.
    pub status: String,
    /// Size of the uploaded source in bytes.
    pub size: i64,
    /// SHA-256 of the source, hex. Computed by the worker from its copy of the source, off the
    /// upload path: absent until processing has started.
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    /// Container detected from the source's first bytes.
    pub content_type: String,
    #[oai(skip_serializing_if_is_none)]
    pub duration_seconds: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub width: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub height: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub failure: Option<Failure>,
    /// Processing runs so far (a reprocess adds one).
    pub attempt: i32,
    /// `signed` (playback URLs carry an expiring signature) or `public`.
    pub visibility: String,
    /// `none`, `audio`, `highest` or `all`: the downloads it is to have (`playback.downloads`).
    pub downloads: String,
    /// Whether its loudness is evened out to the server's target (`loudness` once measured).
    pub normalize_audio: bool,
    #[oai(skip_serializing_if_is_none)]
    pub loudness: Option<LoudnessView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub links: Links,
    /// While processing: per-chunk state, pending activities with attempts and heartbeats, percent, ETA.
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<Progress>,
    /// What plays: once playable or ready, and while a forced re-encode runs (or after it failed),
    /// the generation published before it. Master, per-rendition and poster URLs.
    #[oai(skip_serializing_if_is_none)]
    pub playback: Option<Playback>,
    /// Only in the upload's answer, when a `callback_url` was given: the key of the HMAC in the
    /// callback's `Vodflow-Signature` header. Keep it; it is not shown again.
    #[oai(skip_serializing_if_is_none)]
    pub callback_secret: Option<String>,
}

fn links(cfg: &Config, id: VideoId, visibility: Visibility) -> Links {
    let public_url = &cfg.public_url;
    let (base, _) = playback::configured_base_url(cfg, id, visibility, playback::unix_now());
    Links {
        self_: format!("{public_url}/v1/videos/{id}"),
        workflow: format!("{public_url}/v1/videos/{id}/workflow"),
        playback: format!("{base}master.m3u8"),
    }
}

/// The playback URLs of a ready video, from its recorded renditions.
/// The generation a viewer is shown, if any: a playable run's growing one, the ready one, or,
/// while a forced re-encode runs (and after it failed or was cancelled), the one published before.
pub(crate) fn shown_generation(row: &VideoRow) -> Option<u32> {
    let published = row.published_generation.and_then(|g| u32::try_from(g).ok());
    let current = u32::try_from(row.generation).unwrap_or(0);
    match row.status() {
        VideoStatus::Playable => Some(current),
        VideoStatus::Ready => Some(published.unwrap_or(current)),
        VideoStatus::Deleted => None,
        _ => published,
    }
}

pub(super) fn playback_urls(
    cfg: &Config,
    row: &VideoRow,
    renditions: &[repo::RenditionRow],
    generation: u32,
) -> Playback {
    let id = row.video_id();
    let (base, expires) =
        playback::configured_base_url(cfg, id, row.visibility(), playback::unix_now());
    Playback {
        master: format!("{base}master.m3u8"),
        dash: (row.dash_generation == i32::try_from(generation).ok())
            .then(|| format!("{base}manifest.mpd")),
        renditions: renditions
            .iter()
            .filter_map(|r| {
                // playlist_key is videos/{id}/hls/[g{N}/]{name}/index.m3u8 (a forced re-encode's
                // generation has its own directory); the URL mirrors it under base.
                let rel = r.playlist_key.strip_prefix(&layout::hls_prefix(id))?;
                let name = rel.rsplit('/').nth(1)?.to_owned();
                Some(RenditionUrl {
                    url: format!("{base}{rel}"),
                    name,
                    width: Some(r.width).filter(|w| *w > 0),
                    height: Some(r.height).filter(|h| *h > 0),
                    bandwidth: r.bitrate,
                    codecs: r.codecs.clone(),
                })
            })
            .collect(),
        poster: format!("{base}{}poster.jpg", layout::generation_dir(generation)),
        chapters: row
            .chapters
            .as_ref()
            .filter(|c| !c.0.is_empty())
            .map(|_| format!("{base}chapters.vtt")),
        embed: crate::embed::embed_url(cfg, id, row.visibility()),
        thumbnail: format!("{base}thumbnail.jpg"),
        animated: format!("{base}animated.webp"),
        storyboard: (row.storyboard_generation == i32::try_from(generation).ok())
            .then(|| format!("{base}{}storyboard.vtt", layout::generation_dir(generation))),
        text_tracks: row
            .text_tracks
            .0
            .iter()
            .map(|t| super::text_tracks::text_track_view(&base, t))
            .collect(),
        downloads: if row.downloads_generation == i32::try_from(generation).ok() {
            row.downloads_made
                .0
                .iter()
                .map(|d| DownloadUrl {
                    url: format!("{base}download/{}", d.file_name()),
                    name: d.name.clone(),
                    bytes: i64::try_from(d.bytes).unwrap_or(i64::MAX),
                    width: i32::try_from(d.width).unwrap_or(0),
                    height: i32::try_from(d.height).unwrap_or(0),
                })
                .collect()
        } else {
            Vec::new()
        },
        expires_at: expires.and_then(|e| DateTime::from_timestamp(e as i64, 0)),
    }
}

impl Video {
    pub fn from_row(row: VideoRow, cfg: &Config) -> Self {
        let id = row.video_id();
        Self {
            links: links(cfg, id, row.visibility()),
            visibility: row.visibility.clone(),
            downloads: row.downloads.clone(),
            normalize_audio: row.normalize_audio,
            loudness: row.loudness.as_ref().map(|l| LoudnessView {
                input_lufs: l.0.input_lufs,
                input_true_peak_dbtp: l.0.input_true_peak_dbtp,
                gain_db: l.0.gain_db,
                target_lufs: l.0.target_lufs,
                limited: l.0.limited,
            }),
            playback: None,
            id: id.to_string(),
            failure: row.failure_reason.clone().map(|reason| Failure {
                reason,
                step: row.failure_step.clone(),
                activity_id: row.failure_activity_id.clone(),
                attempts: row.failure_attempts,
            }),
            owner: row.owner,
            title: row.title,
            description: row.description,
            status: row.status,
            size: row.size_bytes,
            sha256: Some(row.sha256).filter(|d| !d.is_empty()),
            content_type: row.content_type,
            duration_seconds: row.duration_ms.map(|ms| ms as f64 / 1000.0),
            width: row.width,
            height: row.height,
            attempt: row.attempt,
            created_at: row.created_at,
            updated_at: row.updated_at,
            progress: None,
            callback_secret: None,
        }
    }
}

#[derive(Object, Debug)]
pub struct VideoPage {
    /// Newest first.
    pub items: Vec<Video>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}
