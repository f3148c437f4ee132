//! Every audio track of a source: a Matroska file with an English track and a commentary whose
//! language tag is nonsense gives two HLS audio renditions (LANGUAGE from the tags, NAME, exactly
//! one DEFAULT, the commentary never auto-selected), both decodable and different, two DASH audio
//! sets, and both in the player's audio menu, where picking the second plays it. A source with more
//! audio streams than are published fails at the probe with a sentence saying so.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::wait_for_status;

/// Sign changes per second of the first 2 s of `url`'s audio (mono 48 kHz): twice the tone's
/// frequency.
fn crossings_per_second(url: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-i", url, "-t", "2", "-ac", "1", "-ar", "48000", "-f",
            "s16le", "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let changes = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    changes as f64 / (samples.len() as f64 / 48_000.0)
}

/// `n` tones (440 Hz, 880 Hz, …) as the audio streams of a 6 s Matroska clip, with `extra` args.
fn clip(dir: &std::path::Path, name: &str, n: usize, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=6",
    ]);
    for i in 0..n {
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            &format!(
                "sine=frequency={}:sample_rate=48000:duration=6",
                440 * (i + 1)
            ),
        ]);
    }
    cmd.args(["-map", "0:v"]);
    for i in 0..n {
        cmd.args(["-map", &format!("{}:a", i + 1)]);
    }
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-ac",
        "2",
    ])
    .args(extra)
    .arg(&out);
    assert!(cmd.status().unwrap().success());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_audio_stream_is_a_track_in_hls_dash_and_the_player() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let two = clip(
        &env.scratch,
        "two.mkv",
        2,
        &[
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:0",
            "title=English",
            "-metadata:s:a:1",
            "language=english-language-tag-that-goes-on",
            "-metadata:s:a:1",
            "title=Commentary \"director\"",
            "-disposition:a:0",
            "default",
            "-disposition:a:1",
            "comment",
        ],
    );
    let nine = clip(&env.scratch, "nine.mkv", 9, &[]);
    let token = env.token("tracks-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let id = common::upload(&base, &token, &two, "two tracks").await;
        let too_many = common::upload(&base, &token, &nine, "nine tracks").await;
        let row = wait_for_status(
            env,
            &too_many,
            &["ready", "failed"],
            Duration::from_secs(180),
        )
        .await;
        assert_eq!(row.status, "failed");
        let reason = row.failure_reason.unwrap_or_default();
        assert!(reason.contains("9 audio streams; at most 8"), "{reason}");

        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let video: serde_json::Value = common::video_json(&base, &token, &id).await;
        let master_url = video["playback"]["master"].as_str().unwrap();
        let master = client
            .get(master_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let media: Vec<&str> = master
            .lines()
            .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO"))
            .collect();
        assert_eq!(media.len(), 2, "{master}");
        assert!(
            media[0].contains(r#"NAME="English",LANGUAGE="eng",DEFAULT=YES,AUTOSELECT=YES"#),
            "{master}"
        );
        assert!(
            media[1]
                .contains(r#"NAME="Commentary director",LANGUAGE="und",DEFAULT=NO,AUTOSELECT=NO"#),
            "{master}"
        );
        assert!(media[1].contains(r#"URI="audio-2/index.m3u8""#), "{master}");

        // Both decode, and they are the two streams of the source (440 Hz and 880 Hz).
        let renditions = video["playback"]["renditions"].as_array().unwrap();
        let url = |name: &str| {
            renditions
                .iter()
                .find(|r| r["name"] == name)
                .unwrap_or_else(|| panic!("{name}: {video}"))["url"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let first = crossings_per_second(&url("audio"));
        let second = crossings_per_second(&url("audio-2"));
        assert!(
            (first - 880.0).abs() < 20.0,
            "first track: {first} crossings/s"
        );
        assert!(
            (second - 1760.0).abs() < 40.0,
            "second track: {second} crossings/s"
        );

        // DASH: one audio set per track.
        let mpd = client
            .get(video["playback"]["dash"].as_str().expect("dash"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            mpd.contains(r#"contentType="audio" mimeType="audio/mp4" lang="eng""#),
            "{mpd}"
        );
        assert!(
            mpd.contains(r#"contentType="audio" mimeType="audio/mp4" lang="und""#),
            "{mpd}"
        );
        assert!(mpd.contains(r#"value="commentary"/>"#), "{mpd}");

        // The player: both in the audio menu; the second, picked with the mouse, plays.
        let shot = common::cache_dir().join("artifacts/audio-tracks.png");
        std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
        let seen = common::browser::run_script(
            "audio_tracks.cjs",
            &[
                ("BASE", base.clone()),
                ("TOKEN", token.clone()),
                ("VIDEO", id.clone()),
                ("SECOND", "audio-2".into()),
                ("SHOT", shot.display().to_string()),
            ],
            Duration::from_secs(120),
        )
        .await;
        let menu: Vec<&str> = seen["menu"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str())
            .collect();
        assert!(menu.iter().any(|m| m.contains("English")), "{seen}");
        assert!(
            menu.iter().any(|m| m.contains("Commentary director")),
            "{seen}"
        );
        assert_eq!(seen["enabled"], 1, "{seen}");
    })
    .await;
    owned.cleanup().await;
}
