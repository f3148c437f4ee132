//! Hostile and odd input against the real stack: manifests, playlists and concat lists that would
//! make libav read the worker's own files are refused at upload (or, with the sniffer fooled, fail
//! without reading anything but the upload); every probe limit ends the video `failed` after one
//! attempt with a reason naming the limit; an MPEG-TS source whose clock starts late plays.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::media::{Spec, ffmpeg, make_video};

/// A file only the worker's disk has: if its bytes ever show up in an output, an attack worked.
fn canary(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("canary-secret.mp4");
    make_video(
        dir,
        "canary-secret.mp4",
        &Spec {
            width: 176,
            height: 144,
            seconds: 2.0,
            fps: 10,
            audio: false,
        },
    );
    path
}

async fn post_file(
    base: &str,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
) -> (u16, serde_json::Value) {
    let form = reqwest::multipart::Form::new()
        .text("title", format!("attack {name}"))
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manifests_playlists_concat_lists_images_and_text_are_refused_at_upload() {
    let env = common::TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let token = env.token("mallory", &["videos:write"]);
    let secret = canary(&env.scratch);
    let target = format!("file://{}", secret.display());
    let mut ts_text = vec![b'A'; 188 * 40];
    for i in 0..40 {
        ts_text[i * 188] = 0x47;
    }
    let attacks: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dash_manifest_posing_as_quicktime",
            format!(
                "<!--free--><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" mediaPresentationDuration=\"PT2S\"><Period><AdaptationSet mimeType=\"video/mp4\"><Representation id=\"1\" bandwidth=\"1\"><BaseURL>{target}</BaseURL></Representation></AdaptationSet></Period></MPD>"
            )
            .into_bytes(),
            "DASH",
        ),
        (
            "wide_atom_dash_manifest",
            format!("\0\0\0\x08wide<MPD><BaseURL>{target}</BaseURL></MPD>").into_bytes(),
            "video",
        ),
        (
            "hls_playlist",
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n")
                .into_bytes(),
            "HLS",
        ),
        (
            "ffconcat_list",
            format!("ffconcat version 1.0\nfile '{}'\n", secret.display()).into_bytes(),
            "concat",
        ),
        (
            "subfile_concat",
            format!("ffconcat version 1.0\nfile 'subfile,,start,0,end,0,,:{}'\n", secret.display())
                .into_bytes(),
            "concat",
        ),
        ("text_with_ts_sync_bytes", ts_text, "video"),
        ("png_image", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0".to_vec(), "image"),
        ("plain_text", b"just some text, definitely a movie".to_vec(), "text"),
    ];
    for (name, bytes, says) in attacks {
        let (status, body) = post_file(&api.base, &token, bytes, name).await;
        assert_eq!(status, 415, "{name}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{name}: {detail}");
        assert_eq!(
            body["type"], "https://vodflow.dev/problems/unsupported-media-type",
            "{name}"
        );
    }
    // Nothing was stored for any of them.
    assert!(env.object_keys("uploads/").await.is_empty());
    assert_eq!(env.multipart_uploads().await, 0);
    api.stop().await;
    env.cleanup().await;
}

/// Mallory's upload of `bytes`, accepted, then its video once it is `ready` or `failed`.
async fn upload_and_settle(
    env: &common::TestEnv,
    base: &str,
    bytes: Vec<u8>,
    name: &str,
) -> (String, vodflow_core::repo::VideoRow) {
    let token = env.token("mallory", &["videos:write"]);
    let (status, body) = post_file(base, &token, bytes, name).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let row =
        common::wait_for_status(env, &id, &["failed", "ready"], Duration::from_secs(120)).await;
    (id, row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fooled_sniffer_still_never_lets_libav_follow_a_manifest() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let secret = canary(&env.scratch);
    // Valid `ftyp`, then the manifest inside a `free` box, then an empty `mdat`: the sniffer sees a
    // QuickTime file; ffprobe is told `mov` and allowed only `file:` for the upload itself.
    let manifest = format!(
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" mediaPresentationDuration=\"PT2S\"><Period><AdaptationSet mimeType=\"video/mp4\"><Representation id=\"1\" bandwidth=\"1\"><BaseURL>file://{}</BaseURL></Representation></AdaptationSet></Period></MPD>",
        secret.display()
    );
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&[0, 0, 0, 0x14]);
    bytes.extend_from_slice(b"ftypisom\0\0\0\0isom");
    bytes.extend_from_slice(&(8 + manifest.len() as u32).to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.extend_from_slice(manifest.as_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 8]);
    bytes.extend_from_slice(b"mdat");
    common::with_platform(env, |base| async move {
        let (id, row) = upload_and_settle(env, &base, bytes, "fooled.mp4").await;
        assert_eq!(row.status, "failed", "a manifest must never become a video");
        assert_eq!(row.failure_step.as_deref(), Some("probe_source"));
        let reason = row.failure_reason.unwrap_or_default();
        assert!(reason.contains("not a readable video"), "{reason}");
        // Failed at once: retrying cannot make a manifest a video.
        let events = common::history(env, &id);
        assert_eq!(common::activity_attempts(&events, "probe"), vec![1]);
        assert!(env.object_keys(&format!("videos/{id}/")).await.is_empty());
    })
    .await;
    owned.cleanup().await;
}

/// A real MPEG-TS video whose first packet (an unlisted PID, which a TS demuxer skips) carries a
/// DASH manifest's text. libav's own probe scores the DASH demuxer highest on such a file (its
/// probe looks for `<MPD` and a DASH profile in the first bytes, where a TS demuxer's probe scores
/// 2 on so few packets), so without the demuxer vodflow forces the video would be handed to the
/// DASH demuxer: refused at best, or read from the manifest's `BaseURL`. Forced to `mpegts`, it is
/// read as the stream the sniffer saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transport_stream_libav_would_open_as_a_dash_manifest_is_read_as_the_stream() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let secret = canary(&env.scratch);
    let real = make_video(
        &env.scratch,
        "real.ts",
        &Spec {
            width: 320,
            height: 180,
            seconds: 4.0,
            fps: 25,
            audio: true,
        },
    );
    let manifest = format!(
        "<MPD profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\"><Period><BaseURL>file://{}</BaseURL></Period></MPD>",
        secret.display()
    );
    assert!(manifest.len() <= 184, "one packet's payload");
    let mut bytes = vec![0x47, 0x41, 0x01, 0x10];
    bytes.extend_from_slice(manifest.as_bytes());
    bytes.resize(188, b' ');
    bytes.extend_from_slice(&std::fs::read(&real).unwrap());
    // The case is real: left to its own probe, libav picks the DASH demuxer for this file.
    let polyglot = env.scratch.join("polyglot.ts");
    std::fs::write(&polyglot, &bytes).unwrap();
    let unforced = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-show_entries",
            "format=format_name",
        ])
        .arg(format!("file:{}", polyglot.display()))
        .output()
        .expect("ffprobe");
    let said = String::from_utf8_lossy(&unforced.stderr).into_owned()
        + &String::from_utf8_lossy(&unforced.stdout);
    assert!(said.contains("dash"), "libav's own probe: {said}");
    common::with_platform(env, |base| async move {
        let (_, row) = upload_and_settle(env, &base, bytes, "polyglot.ts").await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        // The stream itself, not the manifest's target (a 2 s 176x144 clip).
        assert_eq!((row.width, row.height), (Some(320), Some(180)));
        let ms = row.duration_ms.unwrap_or_default();
        assert!((3_900..=4_200).contains(&ms), "{ms} ms");
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_limit_is_enforced_at_probe_and_named() {
    let owned = common::processing_env(&[
        ("VODFLOW_MAX_DURATION", "5s"),
        ("VODFLOW_MAX_WIDTH", "320"),
        ("VODFLOW_MAX_FPS", "25"),
        ("VODFLOW_MAX_STREAMS", "3"),
        ("VODFLOW_MAX_PIXEL_RATE", "1000000"),
    ])
    .await;
    let env = &owned;
    let dir = env.scratch.clone();
    let small = |seconds: f64, width: u32, height: u32, fps: u32| Spec {
        width,
        height,
        seconds,
        fps,
        audio: true,
    };
    let cases = vec![
        (
            "duration",
            make_video(&dir, "long.mp4", &small(8.0, 160, 90, 10)),
            "VODFLOW_MAX_DURATION",
        ),
        (
            "width",
            make_video(&dir, "wide.mp4", &small(2.0, 400, 90, 10)),
            "VODFLOW_MAX_WIDTH",
        ),
        (
            "fps",
            make_video(&dir, "fast.mp4", &small(2.0, 160, 90, 30)),
            "VODFLOW_MAX_FPS",
        ),
        (
            "pixel_rate",
            make_video(&dir, "busy.mp4", &small(2.0, 300, 300, 20)),
            "VODFLOW_MAX_PIXEL_RATE",
        ),
        ("streams", many_streams(&dir), "VODFLOW_MAX_STREAMS"),
    ];
    let fine = make_video(&dir, "fine.mp4", &small(2.0, 160, 90, 10));
    common::with_platform(env, |base| async move {
        let token = env.token("mallory", &["videos:write"]);
        let mut ids = Vec::new();
        for (name, path, limit) in &cases {
            ids.push((
                *name,
                common::upload(&base, &token, path, name).await,
                *limit,
            ));
        }
        let ok = common::upload(&base, &token, &fine, "within every limit").await;
        for (name, id, limit) in ids {
            let row =
                common::wait_for_status(env, &id, &["failed", "ready"], Duration::from_secs(120))
                    .await;
            assert_eq!(row.status, "failed", "{name}");
            let reason = row.failure_reason.unwrap_or_default();
            assert!(reason.contains(limit), "{name}: {reason}");
            let events = common::history(env, &id);
            assert_eq!(
                common::activity_attempts(&events, "probe"),
                vec![1],
                "{name}"
            );
            assert!(
                common::activity_attempts(&events, "encode-chunk-0000").is_empty(),
                "{name}: nothing may be planned past a broken limit"
            );
        }
        let row =
            common::wait_for_status(env, &ok, &["ready", "failed"], Duration::from_secs(120)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
    })
    .await;
    owned.cleanup().await;
}

/// One video and four audio streams.
fn many_streams(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("streams.mkv");
    let out_s = out.display().to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x90:rate=10:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "1:a",
        "-map",
        "1:a",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        &out_s,
    ]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mpeg_ts_whose_clock_starts_late_plays_from_zero() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let src = env.scratch.join("camera.ts");
    let src_s = src.display().to_string();
    // A broadcast/camera stream: timestamps start 10 s in (plus the muxer's own 1.4 s).
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=10",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=10:sample_rate=48000",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-output_ts_offset",
        "10",
        "-f",
        "mpegts",
        &src_s,
    ]);
    common::with_platform(env, |base| async move {
        let token = env.token("cam", &["videos:write"]);
        let id = common::upload(&base, &token, &src, "camera").await;
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let ms = row.duration_ms.expect("duration");
        assert!((ms - 10_000).abs() <= 300, "duration {ms} ms");
        let events = common::history(env, &id);
        assert_eq!(
            common::activity_attempts(&events, "encode-chunk-0000"),
            vec![1]
        );
        let hls = common::download_hls(env, &id).await;
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(hls.join("master.m3u8"))
            .output()
            .expect("ffprobe");
        let played: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0.0);
        assert!((played - 10.0).abs() <= 0.5, "played {played} s");
    })
    .await;
    owned.cleanup().await;
}
