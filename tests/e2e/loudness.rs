//! Even loudness: a quiet source (−35 LUFS) and a loud one (−8 LUFS) uploaded with
//! `normalize_audio=true` both play back within ±1 LU of the target (−16 LUFS) with a true peak
//! under −1 dBTP, measured by ffmpeg's own EBU R128 meter on the published HLS audio; the video
//! reports the input's loudness and the gain; with `normalize_audio=false` the loudness is the
//! source's; anything but true/false is a 400 and nothing is stored.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::wait_for_status;

/// (integrated LUFS, true peak dBTP) of `input`'s first audio stream, from the meter's summary.
fn measure(input: &str) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-i",
            input,
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = &log[log.rfind("Summary:").expect("a summary")..];
    let value = |label: &str| -> f64 {
        let line = summary
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (value("I:"), value("Peak:"))
}

/// A 10 s clip whose audio (a 997 Hz tone, stereo AAC) measures `lufs`.
fn clip_at(dir: &Path, name: &str, lufs: f64) -> PathBuf {
    let make = |gain_db: f64| {
        let out = dir.join(name);
        let status = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=10",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=997:sample_rate=48000:duration=10",
                "-af",
                &format!("volume={gain_db:.2}dB"),
                "-ac",
                "2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "aac",
                "-b:a",
                "192k",
                "-shortest",
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        out
    };
    let first = make(0.0);
    let (measured, _) = measure(first.to_str().unwrap());
    let out = make(lufs - measured);
    let (got, _) = measure(out.to_str().unwrap());
    assert!((got - lufs).abs() < 0.3, "made {got} LUFS, wanted {lufs}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiet_and_loud_sources_come_out_at_the_target_with_their_peaks_under_the_ceiling() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let quiet = clip_at(&env.scratch, "quiet.mp4", -35.0);
    let loud = clip_at(&env.scratch, "loud.mp4", -8.0);
    let token = env.token("loudness-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        // Anything but true or false is refused before anything is stored.
        let form = reqwest::multipart::Form::new()
            .text("title", "bad")
            .text("normalize_audio", "maybe")
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(&quiet).unwrap()).file_name("v.mp4"),
            );
        let r = client
            .post(format!("{base}/v1/videos"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(
            env.object_keys("uploads/").await.is_empty(),
            "nothing stored"
        );

        let quiet_n = common::upload_with(
            &base,
            &token,
            &quiet,
            "quiet",
            &[("normalize_audio", "true")],
        )
        .await;
        let loud_n =
            common::upload_with(&base, &token, &loud, "loud", &[("normalize_audio", "true")]).await;
        let quiet_kept = common::upload_with(
            &base,
            &token,
            &quiet,
            "quiet kept",
            &[("normalize_audio", "false")],
        )
        .await;
        let mut results = Vec::new();
        for (id, input) in [(&quiet_n, -35.0), (&loud_n, -8.0), (&quiet_kept, -35.0)] {
            let row =
                wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(180)).await;
            assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
            let video: serde_json::Value = common::video_json(&base, &token, id).await;
            let audio = video["playback"]["renditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == "audio")
                .expect("an audio rendition")["url"]
                .as_str()
                .unwrap()
                .to_owned();
            let (lufs, peak) = measure(&audio);
            eprintln!(
                "{id}: source {input} LUFS -> {lufs} LUFS, true peak {peak} dBTP; {}",
                video["loudness"]
            );
            results.push((video, input, lufs, peak));
        }
        for (video, input, lufs, peak) in &results[..2] {
            assert_eq!(video["normalize_audio"], true);
            assert!(
                (lufs - -16.0).abs() <= 1.0,
                "{input} LUFS came out at {lufs}: {video}"
            );
            assert!(*peak <= -1.0, "true peak {peak} dBTP: {video}");
            let l = &video["loudness"];
            assert!(
                (l["input_lufs"].as_f64().unwrap() - input).abs() < 0.5,
                "{l}"
            );
            assert_eq!(l["target_lufs"], -16.0);
            let gain = l["gain_db"].as_f64().unwrap();
            assert!((gain - (-16.0 - input)).abs() < 0.5, "{l}");
            assert_eq!(l["limited"], false);
        }
        let (video, input, lufs, _) = &results[2];
        assert_eq!(video["normalize_audio"], false);
        assert!(video.get("loudness").is_none(), "{video}");
        assert!(
            (lufs - input).abs() <= 1.0,
            "unchanged: {lufs} against {input}"
        );
    })
    .await;
    owned.cleanup().await;
}

/// A backfill's view once it has completed.
async fn completed(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    bid: &str,
    within: Duration,
) -> serde_json::Value {
    common::eventually("the backfill to complete", within, || async {
        let b: serde_json::Value = client
            .get(format!("{base}/v1/admin/backfill/{bid}"))
            .bearer_auth(admin)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (b["status"] == "completed").then_some(b)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backfill_evens_out_an_old_videos_loudness_copying_its_video_not_encoding_it() {
    let owned = common::processing_env(&[("VODFLOW_CHUNK_SECONDS", "4")]).await;
    let env = &owned;
    let quiet = clip_at(&env.scratch, "quiet.mp4", -35.0);
    let token = env.token("loudness-owner", &["videos:read", "videos:write"]);
    let admin = env.token("ops", &["videos:admin"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        // Made before: as uploaded, quiet.
        let id = common::upload_with(
            &base,
            &token,
            &quiet,
            "old and quiet",
            &[("normalize_audio", "false")],
        )
        .await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let (before_url, before) = common::rendition_url(&base, &token, &id, "audio").await;
        let (lufs, _) = measure(&before_url);
        assert!((lufs - -35.0).abs() <= 1.0, "{lufs}");
        let old_master = before["playback"]["master"].as_str().unwrap().to_owned();
        let old_generation = row.published_generation.unwrap_or(row.generation);
        let vid: vodflow_core::VideoId = id.parse().unwrap();
        let segment_of = |g: i32| vodflow_core::layout::segment_key(vid, g as u32, "144p", 1);
        let old_segment = env.object_bytes(&segment_of(old_generation)).await;

        let r = client
            .post(format!("{base}/v1/admin/backfill"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"outputs": ["loudness"], "owner": "loudness-owner"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let bid = r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let progress = completed(&client, &base, &admin, &bid, Duration::from_secs(240)).await;
        assert_eq!(progress["progress"]["updated"], 1, "{progress}");
        assert_eq!(progress["progress"]["failed"], 0, "{progress}");

        let row = wait_for_status(env, &id, &["ready"], Duration::from_secs(10)).await;
        let new_generation = row.published_generation.unwrap_or(row.generation);
        assert!(new_generation > old_generation, "a new generation is shown");
        let (after_url, after) = common::rendition_url(&base, &token, &id, "audio").await;
        assert_eq!(after["normalize_audio"], true, "{after}");
        let (lufs, peak) = measure(&after_url);
        assert!(
            (lufs - -16.0).abs() <= 1.0,
            "evened out to {lufs} LUFS: {after}"
        );
        assert!(peak <= -1.0, "true peak {peak}");
        assert!(
            (after["loudness"]["input_lufs"].as_f64().unwrap() - -35.0).abs() < 0.5,
            "{after}"
        );
        assert_ne!(after["playback"]["master"], old_master.as_str());
        // The video was copied, not encoded: the same bytes under the new generation, and no
        // chunk of the loudness run encoded anything.
        assert_eq!(
            env.object_bytes(&segment_of(new_generation)).await,
            old_segment
        );
        let events = common::history(env, &id);
        for (activity, result) in common::completed_activities(&events) {
            if activity.starts_with("encode-chunk-") {
                assert_eq!(result["encoded"], false, "{activity} encoded: {result}");
            }
        }
        // Once even, a second backfill finds nothing to do.
        let r = client
            .post(format!("{base}/v1/admin/backfill"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"outputs": ["loudness"], "owner": "loudness-owner"}))
            .send()
            .await
            .unwrap();
        let bid = r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let again = completed(&client, &base, &admin, &bid, Duration::from_secs(120)).await;
        assert_eq!(again["progress"]["up_to_date"], 1, "{again}");
    })
    .await;
    owned.cleanup().await;
}
