//! Durable processing, end to end on the real stack: upload → outbox → Kafka → bridge → Temporal
//! workflow → FFmpeg → HLS in S3 → `ready` in Postgres.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::media::{Spec, ffprobe, make_video};
use common::{TestEnv, download_hls, unique, upload, wait_for_status, with_platform};

const READY_WITHIN: Duration = Duration::from_secs(240);

async fn env_with(extra: &[(&str, &str)]) -> TestEnv {
    common::processing_env(extra).await
}

/// Decodes a playlist end to end; returns ffmpeg's complaints (empty = clean).
fn decode_errors(playlist: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(playlist)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg could not decode {}",
        playlist.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn duration_of(playlist: &Path) -> f64 {
    ffprobe(
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
        playlist,
    )
    .trim()
    .parse()
    .expect("duration")
}

/// Largest gap between consecutive video decode timestamps across the whole playlist.
fn max_dts_step(playlist: &Path) -> f64 {
    let out = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=dts_time",
            "-of",
            "csv=p=0",
        ],
        playlist,
    );
    let dts: Vec<f64> = out
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(dts.len() > 10, "too few packets in {}", playlist.display());
    dts.windows(2).map(|w| w[1] - w[0]).fold(f64::MIN, f64::max)
}

/// A rendition's fragments, in playlist order, carry decode times that start at 0 and continue
/// exactly from one to the next (chunk boundaries included: each chunk is its own ffmpeg process);
/// and the encode uses B-frames. Returns the number of B-frames.
fn assert_continuous_with_b_frames(rendition_dir: &Path) -> usize {
    let playlist = rendition_dir.join("index.m3u8");
    let init = std::fs::read(rendition_dir.join("init.mp4")).expect("init segment");
    let mut next = 0u64;
    for name in std::fs::read_to_string(&playlist)
        .expect("playlist")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut data = init.clone();
        data.extend(std::fs::read(rendition_dir.join(name)).expect("segment"));
        let f = vodflow_activities::media::fmp4::split(&data).expect("a fragmented MP4");
        for s in &f.segments {
            assert_eq!(
                s.decode_time,
                next,
                "{}: {name} starts at decode time {} instead of {next}",
                rendition_dir.display(),
                s.decode_time
            );
            next += s.duration;
        }
    }
    let frames = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pict_type",
            "-of",
            "csv=p=0",
        ],
        &playlist,
    );
    frames.lines().filter(|l| l.trim() == "B").count()
}

/// What Apple's HLS authoring rules ask of a master for Safari's native player, as far as this
/// ladder goes: independent segments declared; every variant with BANDWIDTH, AVERAGE-BANDWIDTH
/// (≤ BANDWIDTH), RESOLUTION, FRAME-RATE (three decimals) and CODECS naming exactly its video's
/// profile/level (as in its init segment's avcC) plus the audio; audio as a separate rendition
/// group with CHANNELS that every variant names.
fn assert_safari_master(master: &str, dir: &Path) {
    assert!(master.starts_with("#EXTM3U\n"), "{master}");
    assert!(
        master.contains("\n#EXT-X-INDEPENDENT-SEGMENTS\n"),
        "{master}"
    );
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\"")
            && master.contains("CHANNELS=\"2\""),
        "{master}"
    );
    let lines: Vec<&str> = master.lines().collect();
    let mut variants = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") else {
            continue;
        };
        variants += 1;
        let uri = lines[i + 1];
        let rung = uri.split('/').next().unwrap();
        let attr = |name: &str| -> String {
            let at = attrs
                .find(&format!("{name}="))
                .unwrap_or_else(|| panic!("{rung}: no {name} in {attrs}"));
            let v = &attrs[at + name.len() + 1..];
            if let Some(q) = v.strip_prefix('"') {
                q[..q.find('"').unwrap()].to_owned()
            } else {
                v.split(',').next().unwrap().to_owned()
            }
        };
        let (bw, avg): (u64, u64) = (
            attr("BANDWIDTH").parse().unwrap(),
            attr("AVERAGE-BANDWIDTH").parse().unwrap(),
        );
        assert!(avg > 0 && avg <= bw, "{rung}: {attrs}");
        let res = attr("RESOLUTION");
        let (w, h) = res.split_once('x').unwrap();
        assert!(
            w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok(),
            "{rung}: {res}"
        );
        let fr = attr("FRAME-RATE");
        assert!(
            fr.split_once('.').is_some_and(|(_, d)| d.len() == 3),
            "{rung}: {fr}"
        );
        assert_eq!(attr("AUDIO"), "audio", "{rung}");
        let init = std::fs::read(dir.join(rung).join("init.mp4")).expect("init");
        let avc = vodflow_activities::media::fmp4::avc_codec_string(&init).expect("avcC in init");
        assert_eq!(
            attr("CODECS"),
            format!("{avc},mp4a.40.2"),
            "{rung}: CODECS must match the stream"
        );
    }
    assert!(variants >= 2, "{master}");
}

fn extinfs(playlist: &Path) -> Vec<f64> {
    std::fs::read_to_string(playlist)
        .expect("playlist")
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse().expect("extinf"))
        .collect()
}

/// What a client polling `GET /v1/videos/{id}` saw while the video was processed.
struct Watched {
    /// Per snapshot: rendition name → percent.
    rendition_percent: Vec<Vec<(String, f64)>>,
    /// Per snapshot: chunk index → state.
    chunk_states: Vec<Vec<(u64, String)>>,
    /// At the first `ready` the client saw: store keys missing from the playback tree.
    missing_at_ready: Vec<String>,
    snapshots: usize,
}

const CHUNK_ORDER: [&str; 4] = ["queued", "encoding", "uploading", "done"];

impl Watched {
    fn check(&self) {
        assert!(
            self.snapshots >= 3,
            "only {} progress snapshots",
            self.snapshots
        );
        assert!(
            self.missing_at_ready.is_empty(),
            "the API said ready while {:?} were not in the store",
            self.missing_at_ready
        );
        for pair in self.rendition_percent.windows(2) {
            for (name, before) in &pair[0] {
                if let Some((_, after)) = pair[1].iter().find(|(n, _)| n == name) {
                    assert!(
                        after >= before,
                        "{name} went back from {before}% to {after}%"
                    );
                }
            }
        }
        let rank = |s: &str| {
            CHUNK_ORDER
                .iter()
                .position(|c| *c == s)
                .expect("known chunk state")
        };
        for pair in self.chunk_states.windows(2) {
            for (index, before) in &pair[0] {
                if let Some((_, after)) = pair[1].iter().find(|(i, _)| i == index) {
                    assert!(
                        rank(after) >= rank(before),
                        "chunk {index}: {before} -> {after}"
                    );
                }
            }
        }
        let seen = |state: &str| self.chunk_states.iter().flatten().any(|(_, s)| s == state);
        assert!(
            seen("encoding"),
            "never saw a chunk encoding: {:?}",
            self.chunk_states
        );
        assert!(seen("done"), "never saw a chunk done");
    }
}

/// Polls the video like a client until it is ready or failed; on the first `ready`, lists the store.
async fn watch_progress(
    base: String,
    token: String,
    id: String,
    s3: aws_sdk_s3::Client,
    bucket: String,
) -> Watched {
    let http = reqwest::Client::new();
    let mut w = Watched {
        rendition_percent: Vec::new(),
        chunk_states: Vec::new(),
        missing_at_ready: Vec::new(),
        snapshots: 0,
    };
    let deadline = std::time::Instant::now() + READY_WITHIN;
    while std::time::Instant::now() < deadline {
        let v: serde_json::Value = http
            .get(format!("{base}/v1/videos/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("json");
        match v["status"].as_str().unwrap_or_default() {
            "ready" => {
                let listed = s3
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(format!("videos/{id}/hls/"))
                    .send()
                    .await
                    .expect("list");
                let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
                let mut wanted = vec![format!("videos/{id}/hls/master.m3u8")];
                for r in v["playback"]["renditions"].as_array().into_iter().flatten() {
                    let name = r["name"].as_str().unwrap_or_default();
                    wanted.push(format!("videos/{id}/hls/{name}/index.m3u8"));
                }
                assert!(wanted.len() > 1, "ready without renditions: {v}");
                w.missing_at_ready = wanted
                    .into_iter()
                    .filter(|k| !keys.contains(&k.as_str()))
                    .collect();
                return w;
            }
            "failed" => return w,
            _ => {}
        }
        let p = &v["progress"];
        if p.is_object() {
            w.snapshots += 1;
            w.rendition_percent.push(
                p["renditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap_or_default().to_owned(),
                            r["percent"].as_f64().unwrap_or(-1.0),
                        )
                    })
                    .collect(),
            );
            w.chunk_states.push(
                p["chunks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        (
                            c["index"].as_u64().unwrap_or(0),
                            c["state"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_720p_clip_becomes_a_playable_hls_ladder() {
    let owned = env_with(&[("VODFLOW_CHUNK_SECONDS", "8")]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 20.0,
            fps: 30,
            audio: true,
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    with_platform(env, |base| async move {
        let id = upload(&base, &token, &clip, "a 720p clip").await;
        let watcher = tokio::spawn(watch_progress(
            base.clone(),
            token.clone(),
            id.clone(),
            env.s3.clone(),
            env.cfg.s3.bucket.clone(),
        ));
        let row = wait_for_status(env, &id, &["ready", "failed"], READY_WITHIN).await;
        assert_eq!(
            row.status, "ready",
            "failed: {:?} at {:?}",
            row.failure_reason, row.failure_step
        );
        let watched = watcher.await.expect("progress watcher");
        watched.check();
        assert_eq!((row.width, row.height), (Some(1280), Some(720)));
        assert!((row.duration_ms.unwrap() - 20_000).abs() <= 100);
        // The upload path does not hash; the probe step records the digest of its copy.
        assert_eq!(row.sha256, common::media::sha256_file(&clip));

        let dir = download_hls(env, &id).await;
        let master = std::fs::read_to_string(dir.join("master.m3u8")).expect("master playlist");
        for rung in ["144p", "240p", "360p", "480p", "720p"] {
            assert!(
                master.contains(&format!("{rung}/index.m3u8")),
                "{rung} missing from master:\n{master}"
            );
            let playlist = dir.join(rung).join("index.m3u8");
            let errors = decode_errors(&playlist);
            assert!(
                errors.trim().is_empty(),
                "{rung} decodes with errors: {errors}"
            );
            let d = duration_of(&playlist);
            assert!((d - 20.0).abs() <= 0.1, "{rung} lasts {d}s, source 20s");
            // Chunks are 8 s: a jump at 8 s or 16 s would show as a gap much larger than a frame.
            let step = max_dts_step(&playlist);
            assert!(
                step < 1.5 / 30.0,
                "{rung}: decode timestamps jump by {step}s"
            );
            let b_frames = assert_continuous_with_b_frames(&dir.join(rung));
            assert!(b_frames > 100, "{rung}: {b_frames} B-frames in 600 frames");
            let segs = extinfs(&playlist);
            assert_eq!(segs.len(), 5, "{rung}: 20 s in 4 s segments");
            assert!(
                segs.iter().all(|d| (d - 4.0).abs() < 0.05),
                "{rung} segment durations {segs:?}"
            );
        }
        assert!(!master.contains("1080p"), "never upscale:\n{master}");
        assert_safari_master(&master, &dir);
        assert!(master.contains("TYPE=AUDIO,GROUP-ID=\"audio\""), "{master}");
        assert!(
            master.contains("RESOLUTION=1280x720")
                && master.contains("AVERAGE-BANDWIDTH=")
                && master.contains("FRAME-RATE=30.000")
        );
        assert!(
            master.contains("CODECS=\"avc1.") && master.contains(",mp4a.40.2\""),
            "{master}"
        );
        let audio = dir.join("audio").join("index.m3u8");
        assert!(decode_errors(&audio).trim().is_empty());
        assert!((duration_of(&audio) - 20.0).abs() <= 0.1);
        // Audio and video in sync: the whole presentation starts together and lasts as long.
        let av = decode_errors(&dir.join("master.m3u8"));
        assert!(av.trim().is_empty(), "{av}");

        let poster = env
            .s3
            .head_object()
            .bucket(&env.cfg.s3.bucket)
            .key(format!("videos/{id}/thumbs/poster.jpg"))
            .send()
            .await;
        assert!(poster.is_ok(), "poster missing");

        let rows = vodflow_core::repo::renditions(&env.pool, id.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(rows.len(), 6, "5 video renditions + audio");
        for r in &rows {
            let listed = env
                .object_keys_all(r.playlist_key.trim_end_matches("index.m3u8"))
                .await;
            let segments = listed.iter().filter(|k| k.ends_with(".m4s")).count();
            assert_eq!(
                segments as i32, r.segment_count,
                "{} segments in S3 vs row",
                r.playlist_key
            );
        }
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn portrait_rotated_silent_tiny_odd_and_short_sources_all_play() {
    let owned = env_with(&[]).await;
    let env = &owned;
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let portrait = make_video(
        &env.scratch,
        "portrait.mp4",
        &Spec {
            width: 360,
            height: 640,
            seconds: 5.0,
            fps: 25,
            audio: true,
        },
    );
    let silent = make_video(
        &env.scratch,
        "silent.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 4.0,
            fps: 25,
            audio: false,
        },
    );
    let tiny = make_video(
        &env.scratch,
        "tiny.mp4",
        &Spec {
            width: 170,
            height: 96,
            seconds: 3.0,
            fps: 25,
            audio: true,
        },
    );
    let short = make_video(
        &env.scratch,
        "short.mp4",
        &Spec {
            width: 426,
            height: 240,
            seconds: 6.5,
            fps: 25,
            audio: true,
        },
    );
    // A landscape picture flagged for 90° display, as phones record.
    let rotated = env.scratch.join("rotated.mp4");
    common::media::ffmpeg(&[
        "-i",
        silent.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        rotated.to_str().unwrap(),
    ]);
    // Odd dimensions (4:4:4 allows them).
    let odd = env.scratch.join("odd.mp4");
    common::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=321x241:rate=25:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv444p",
        odd.to_str().unwrap(),
    ]);
    with_platform(env, |base| async move {
        let mut ids = Vec::new();
        for (name, path) in [
            ("portrait", &portrait),
            ("silent", &silent),
            ("tiny", &tiny),
            ("short", &short),
            ("rotated", &rotated),
            ("odd", &odd),
        ] {
            ids.push((name, upload(&base, &token, path, name).await));
        }
        for (name, id) in &ids {
            let row = wait_for_status(env, id, &["ready", "failed"], READY_WITHIN).await;
            assert_eq!(row.status, "ready", "{name}: {:?}", row.failure_reason);
            let dir = download_hls(env, id).await;
            let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
            let errors = decode_errors(&dir.join("master.m3u8"));
            assert!(errors.trim().is_empty(), "{name}: {errors}");
            match *name {
                "portrait" => {
                    assert!(master.contains("RESOLUTION=360x640"), "{master}");
                    assert!(master.contains("RESOLUTION=144x256"), "{master}");
                }
                "silent" => assert!(!master.contains("TYPE=AUDIO"), "{master}"),
                "tiny" => {
                    assert!(
                        master.contains("96p/index.m3u8") && master.contains("RESOLUTION=170x96"),
                        "{master}"
                    );
                    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 1);
                }
                "short" => {
                    let segs = extinfs(&dir.join("240p").join("index.m3u8"));
                    assert_eq!(segs.len(), 2, "{segs:?}");
                    assert!((segs[1] - 2.5).abs() < 0.05, "{segs:?}");
                }
                "rotated" => {
                    assert_eq!(
                        (row.width, row.height),
                        (Some(360), Some(640)),
                        "display size after rotation"
                    );
                    assert!(master.contains("RESOLUTION=360x640"), "{master}");
                }
                "odd" => assert!(master.contains("RESOLUTION=320x240"), "{master}"),
                _ => unreachable!(),
            }
        }
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unusable_media_fails_after_one_attempt_with_a_clear_reason() {
    let owned = env_with(&[]).await;
    let env = &owned;
    let owner = unique("owner-");
    let token = env.token(&owner, &["videos:read", "videos:write"]);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let bytes = std::fs::read(&clip).unwrap();
    let truncated = env.scratch.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let audio_only = env.scratch.join("audio.m4a");
    common::media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=3",
        "-c:a",
        "aac",
        audio_only.to_str().unwrap(),
    ]);
    // Text inside boxes that chain like an MP4 gets past the upload's sniffing.
    let fake = env.scratch.join("fake.mp4");
    common::media::fake_mp4(
        &fake,
        b"this is not a video, just text pretending to be one. ",
    );

    with_platform(env, |base| async move {
        let cases = [
            ("truncated", &truncated, "not a readable video"),
            ("audio only", &audio_only, "no video stream"),
            ("text", &fake, "not a readable video"),
        ];
        for (name, path, expected) in cases {
            let id = upload(&base, &token, path, name).await;
            let row = wait_for_status(env, &id, &["ready", "failed"], READY_WITHIN).await;
            assert_eq!(row.status, "failed", "{name}");
            assert_eq!(row.failure_step.as_deref(), Some("probe_source"), "{name}");
            let reason = row.failure_reason.unwrap_or_default();
            assert!(reason.contains(expected), "{name}: {reason}");
            let events = common::history(env, &id);
            assert_eq!(
                common::activity_attempts(&events, "probe"),
                vec![1],
                "{name}: probe must run exactly once"
            );
            // The API tells the failing step, its activity and its attempts.
            let v = common::video_json(&base, &token, &id).await;
            assert_eq!(v["failure"]["step"], "probe_source", "{v}");
            assert_eq!(v["failure"]["activity_id"], "probe", "{v}");
            assert_eq!(v["failure"]["attempts"], 1, "{v}");
        }
        // Operators find exactly these through the search attributes.
        let client = vodflow_core::temporal::connect(&env.cfg, "test")
            .await
            .unwrap();
        let query = format!("OwnerId = '{owner}' AND VideoStatus = 'failed'");
        common::eventually(
            "visibility to index the failures",
            Duration::from_secs(30),
            || async {
                let n = client
                    .count_workflows(query.clone(), Default::default())
                    .await
                    .ok()?
                    .count();
                (n == 3).then_some(())
            },
        )
        .await;
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test]
async fn cloudfront_invalidation_request_against_local_listener() {
    // CloudFront cannot run here: a local listener receives the exact request the SDK sends.
    let (addr, server) = common::cloudfront_listener().await;
    let id = vodflow_core::VideoId::new();
    let cfg = vodflow_core::Config::from_lookup(|n| match n {
        "VODFLOW_CLOUDFRONT_DISTRIBUTION_ID" => Some("E2EXAMPLE".into()),
        "VODFLOW_CLOUDFRONT_ENDPOINT" => Some(format!("http://{addr}")),
        _ => None,
    })
    .unwrap();
    let outcome = vodflow_activities::deliver::cdn::invalidate(&cfg, id)
        .await
        .expect("invalidation");
    assert_eq!(outcome, "invalidation I2J0I21PCUYOIK");
    let req = server.await.unwrap();
    assert!(
        req.starts_with("POST /2020-05-31/distribution/E2EXAMPLE/invalidation HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.contains(&format!("<Path>/videos/{id}/*</Path>"))
            && req.contains(&format!("<Path>/play/{id}/*</Path>")),
        "{req}"
    );
    assert!(req.contains("<Quantity>2</Quantity>"), "{req}");
    assert!(
        req.to_ascii_lowercase()
            .contains("authorization: aws4-hmac-sha256"),
        "signed request: {req}"
    );

    // Without a distribution the activity says it skipped.
    let unset = vodflow_core::Config::from_lookup(|_| None).unwrap();
    assert!(
        vodflow_activities::deliver::cdn::invalidate(&unset, id)
            .await
            .unwrap()
            .starts_with("skipped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_encode_loses_nothing_and_finished_chunks_are_not_redone() {
    let owned = env_with(&[
        ("VODFLOW_CHUNK_SECONDS", "4"),
        ("VODFLOW_HEARTBEAT_TIMEOUT", "5s"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "long.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 40.0,
            fps: 30,
            audio: false,
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    // The workflow runs in-process; the encodes run in a separate worker process we can SIGKILL.
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: false,
    };
    common::with_platform_roles(env, roles, |base| async move {
        let mut first = common::spawn_worker_process(
            env,
            &["--queues", "transcode", "--max-concurrent-transcodes", "1"],
            &env.scratch.join("w1"),
        );
        let id = upload(&base, &token, &clip, "long").await;
        let done_before = common::finished_chunks(env, &id, 2).await;
        let completed_before: Vec<String> =
            common::completed_activities(&common::history(env, &id))
                .into_iter()
                .map(|(a, _)| a)
                .filter(|a| a.starts_with("encode-chunk-"))
                .collect();
        // Mid-encode, not between two tasks: the kill lands while Temporal has a chunk started on
        // this worker (finishing a chunk and polling for the next leave a gap with none).
        let in_flight = common::encode_started(&id).await;
        first.kill().expect("SIGKILL the worker");
        let row = vodflow_core::repo::get_video(&env.pool, id.parse().unwrap(), None)
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.status == "processing" || row.status == "playable",
            "the kill must land mid-encode, not after: {}",
            row.status
        );

        // What the kill left on the worker's disk: its scratch space, which nobody cleaned up.
        let w1 = env.scratch.join("w1");
        let owners = || -> Vec<String> {
            std::fs::read_dir(w1.join("scratch"))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.starts_with("owner-"))
                        .collect()
                })
                .unwrap_or_default()
        };
        let left = owners();
        assert_eq!(left.len(), 1, "the killed worker's scratch space: {left:?}");

        // Restarted on the same machine (the same work directory).
        let metrics_port = common::free_port();
        let mut second = common::spawn_vodflow(
            env,
            &["worker", "--queues", "transcode"],
            &[
                ("VODFLOW_WORK_DIR", &w1.display().to_string()),
                (
                    "VODFLOW_METRICS_LISTEN",
                    &format!("127.0.0.1:{metrics_port}"),
                ),
            ],
            &PathBuf::from(format!("{}.log", w1.display())),
        );
        let row = wait_for_status(env, &id, &["ready", "failed"], READY_WITHIN).await;
        let now = owners();
        // The retry is counted under the activity's own name (the kill may land before the
        // attempt's first heartbeat, so it need not count as a lost one).
        let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .expect("the worker's metrics")
            .text()
            .await
            .expect("metrics text");
        second.kill().ok();
        let series = "vodflow_activity_retries_total{activity=\"encode_chunk\"}";
        let retries: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} in:\n{metrics}"));
        assert!(retries >= 1.0, "{series} = {retries}");
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        assert!(
            !now.contains(&left[0]),
            "the restarted worker left the killed one's scratch space on the disk: {now:?}"
        );

        let events = common::history(env, &id);
        // Chunks whose completion Temporal had recorded are never scheduled again.
        for activity in &completed_before {
            assert_eq!(
                common::activity_attempts(&events, activity),
                vec![1],
                "{activity} completed before the kill"
            );
        }
        // A chunk whose segments were all in S3 but whose completion was not yet recorded is retried,
        // and the retry reuses what is stored instead of encoding again.
        let results = common::completed_activities(&events);
        let mut retried = 0;
        for &index in &done_before {
            let activity = format!("encode-chunk-{index:04}");
            if common::activity_attempts(&events, &activity)
                .iter()
                .any(|a| *a > 1)
            {
                let (_, result) = results
                    .iter()
                    .find(|(a, _)| *a == activity)
                    .expect("chunk completed");
                assert_eq!(
                    result["encoded"], false,
                    "{activity} was encoded again: {result}"
                );
            }
        }
        for index in 0..10u32 {
            if common::activity_attempts(&events, &format!("encode-chunk-{index:04}"))
                .iter()
                .any(|a| *a > 1)
            {
                retried += 1;
            }
        }
        assert!(
            common::activity_attempts(&events, &in_flight)
                .iter()
                .any(|a| *a > 1),
            "{in_flight}, in flight at the kill, was retried on the new worker"
        );
        assert!(retried >= 1);
        let dir = download_hls(env, &id).await;
        let playlist = dir.join("720p").join("index.m3u8");
        assert!(decode_errors(&playlist).trim().is_empty());
        assert!((duration_of(&playlist) - 40.0).abs() <= 0.1);
    })
    .await;
    owned.cleanup().await;
}
