//! A long source, the way a 12-hour one would run, at a tiny resolution so it is quick to encode:
//! 3 hours at 64x36 in 96 s chunks (113 of them: what matters is far more chunks than the window,
//! and each costs the platform about the same whatever its length). The run keeps a bounded window
//! of encodes in flight, `package` reads the chunk manifests from the store, and the history and
//! its largest payload stay far from Temporal's
//! limits (51,200 events, 2 MB per payload), and its events per chunk keep the longest run (at most
//! `ladder::MAX_CHUNKS` chunks) under the 10,240-event warning; the numbers are printed.

use crate::common;

use std::time::{Duration, Instant};

use common::media::{ffmpeg, ssim};

const HOURS: u64 = 3;
const CHUNK_SECONDS: u64 = 96;
const WINDOW: usize = 8;

/// Bytes of the largest payload anywhere in a history (decoded from the CLI's base64).
fn largest_payload(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => {
            let own = m
                .get("payloads")
                .and_then(|p| p.as_array())
                .map(|ps| {
                    ps.iter()
                        .map(|p| p["data"].as_str().map_or(0, |d| d.len() * 3 / 4))
                        .sum::<usize>()
                })
                .unwrap_or(0);
            m.values().map(largest_payload).max().unwrap_or(0).max(own)
        }
        serde_json::Value::Array(a) => a.iter().map(largest_payload).max().unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_hour_source_stays_far_from_temporal_limits() {
    let chunk = CHUNK_SECONDS.to_string();
    let window = WINDOW.to_string();
    let owned = common::processing_env(&[
        ("VODFLOW_CHUNK_SECONDS", &chunk),
        ("VODFLOW_MAX_ENCODES_IN_FLIGHT", &window),
        ("VODFLOW_HEARTBEAT_TIMEOUT", "20s"),
    ])
    .await;
    let env = &owned;
    let seconds = HOURS * 3600;
    let src = env.scratch.join("long.mp4");
    let src_s = src.display().to_string();
    let video = format!("testsrc2=size=64x36:rate=2:duration={seconds}");
    let audio = format!("sine=frequency=300:sample_rate=8000:duration={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "1",
        "-b:a",
        "16k",
        "-shortest",
        &src_s,
    ]);
    common::with_platform(env, |base| async move {
        let token = env.token("marathon", &["videos:read", "videos:write"]);
        let started = Instant::now();
        let id = common::upload(&base, &token, &src, "three hours").await;
        // While it runs, the window holds: never more encodes pending than allowed (+ audio).
        let client = vodflow_core::temporal::connect(&env.cfg, "test").await.unwrap();
        let vid: vodflow_core::VideoId = id.parse().unwrap();
        let mut most_pending = 0;
        let row = loop {
            let row = vodflow_core::repo::get_video(&env.pool, vid, None).await.unwrap().unwrap();
            if row.status == "ready" || row.status == "failed" {
                break row;
            }
            assert!(started.elapsed() < Duration::from_secs(900), "still {} after 15 min", row.status);
            if let Ok(d) = client
                .get_workflow_handle::<vodflow_workflows::VideoProcessingWorkflow>(vid.workflow_id())
                .describe(Default::default())
                .await
            {
                most_pending = most_pending.max(d.raw().pending_activities.len());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let took = started.elapsed();
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        // Bounded by the window, not by the 113 chunks: the window's encodes, the audio, the
        // poster (made alongside the first encodes) and one growing package at most.
        assert!(most_pending <= WINDOW + 3, "{most_pending} activities pending at once");
        let ms = row.duration_ms.unwrap_or(0);
        assert!((ms - (seconds * 1000) as i64).abs() <= 300, "duration {ms} ms");
        let events = common::history(env, &id);
        let biggest = events.iter().map(largest_payload).max().unwrap_or(0);
        let chunks = seconds.div_ceil(CHUNK_SECONDS);
        // Audio must not have been retried for a missed heartbeat while uploading its segments.
        assert_eq!(common::activity_attempts(&events, "encode-audio"), vec![1]);
        // Events grow linearly with chunks, and no run has more than `MAX_CHUNKS` of them (a
        // 12 h source gets longer chunks): the longest source stays under Temporal's warning.
        let per_chunk = events.len() as f64 / chunks as f64;
        let max_chunks = vodflow_core::ladder::MAX_CHUNKS;
        let at_most = (per_chunk * max_chunks as f64) as usize;
        eprintln!(
            "long source: {HOURS} h, {chunks} chunks, {} events, largest payload {biggest} bytes, {:.0} s to ready; {max_chunks} chunks (12 h) ≈ {at_most} events",
            events.len(),
            took.as_secs_f64()
        );
        assert!(events.len() < 51_200 / 10, "{} events", events.len());
        assert!(
            at_most < 10_240,
            "{max_chunks} chunks would need about {at_most} events, past Temporal's warning"
        );
        assert!(biggest < 64 * 1024, "largest payload {biggest} bytes");

        // The storyboard reads only the segments around its 200 tiles (a tile every 54 s over
        // 2,700 segments), and each tile is still the frame at its cue's start.
        let video = common::video_json(&base, &token, &id).await;
        let vtt_url = video["playback"]["storyboard"]
            .as_str()
            .unwrap_or_else(|| panic!("a storyboard: {video}"))
            .to_owned();
        let http = reqwest::Client::new();
        let vtt = http.get(&vtt_url).send().await.unwrap().text().await.unwrap();
        let cues: Vec<(f64, String)> = vtt
            .split("\n\n")
            .skip(1)
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                let (timing, target) = c.split_once('\n').unwrap();
                let start = timing.split(" --> ").next().unwrap();
                let p: Vec<f64> = start.split(':').map(|x| x.parse().unwrap()).collect();
                (p[0] * 3600.0 + p[1] * 60.0 + p[2], target.to_owned())
            })
            .collect();
        assert_eq!(cues.len(), 200, "{vtt}");
        let dir = env.scratch.join("long-storyboard");
        std::fs::create_dir_all(&dir).unwrap();
        for i in [0usize, 77, 199] {
            let (start, target) = &cues[i];
            let (sheet, xywh) = target.split_once("#xywh=").unwrap();
            let r = http
                .get(vtt_url.replace("storyboard.vtt", sheet))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{sheet}");
            let sheet_path = dir.join(format!("{i}-{sheet}"));
            std::fs::write(&sheet_path, r.bytes().await.unwrap()).unwrap();
            let v: Vec<u32> = xywh.split(',').map(|x| x.parse().unwrap()).collect();
            let tile = dir.join(format!("tile-{i}.png"));
            ffmpeg(&[
                "-i",
                sheet_path.to_str().unwrap(),
                "-vf",
                &format!("crop={}:{}:{}:{}", v[2], v[3], v[0], v[1]),
                tile.to_str().unwrap(),
            ]);
            let frame_at = |t: f64, name: &str| {
                let p = dir.join(format!("{name}-{i}.png"));
                ffmpeg(&[
                    "-ss",
                    &format!("{t:.3}"),
                    "-i",
                    &src_s,
                    "-frames:v",
                    "1",
                    "-vf",
                    &format!("scale={}:{}:flags=bicubic", v[2], v[3]),
                    p.to_str().unwrap(),
                ]);
                p
            };
            let own = ssim(&tile, &frame_at(*start, "at"));
            let elsewhere = ssim(&tile, &frame_at(start + 20.0, "later"));
            assert!(
                own >= 0.8 && own > elsewhere,
                "tile {i} at {start} s: SSIM {own} there, {elsewhere} 20 s later"
            );
        }
    })
    .await;
    owned.cleanup().await;
}
