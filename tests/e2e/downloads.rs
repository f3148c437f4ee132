//! Downloads: chosen at upload (`downloads=audio`) or added to a ready video later
//! (`POST /v1/videos/{id}/downloads`), each a progressive MP4/M4A with `moov` before `mdat`,
//! remuxed from the published segments: a rung's decoded frames equal its HLS rung's (framemd5),
//! served as an attachment named after the title, signed like every playback URL; only listed
//! names answer; a video that is not ready, or an unknown choice, is refused with nothing stored.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

/// The top-level box types of an MP4, in order.
fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).into_owned();
        let size = match size32 {
            1 => u64::from_be_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()),
            0 => (bytes.len() - pos) as u64,
            s => s,
        };
        out.push(kind);
        pos += size as usize;
    }
    out
}

/// The MD5 of every decoded video frame of `input`, in order (timestamps left out: a remux may
/// shift them, the pictures must not change).
fn frame_hashes(input: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-i", input, "-map", "0:v:0", "-f", "framemd5", "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

async fn ask(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    body: serde_json::Value,
) -> u16 {
    client
        .post(format!("{base}/v1/videos/{id}/downloads"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downloads_are_remuxed_files_with_the_rungs_frames_moov_first() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let later = make_video(
        &env.scratch,
        "later.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 12.0,
            fps: 25,
            audio: true,
        },
    );
    let audio_only = make_video(
        &env.scratch,
        "audio-only.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 6.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("downloads-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let a = common::upload(&base, &token, &later, "Ma vidéo: later").await;
        let b = common::upload_with(
            &base,
            &token,
            &audio_only,
            "sound",
            &[("downloads", "audio")],
        )
        .await;
        // Not ready yet: refused, nothing recorded.
        assert_eq!(
            ask(
                &client,
                &base,
                &token,
                &b,
                serde_json::json!({"downloads": "all"})
            )
            .await,
            409
        );
        assert_eq!(
            ask(
                &client,
                &base,
                &token,
                &a,
                serde_json::json!({"downloads": "everything"})
            )
            .await,
            400
        );

        for id in [&a, &b] {
            let row =
                wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(180)).await;
            assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        }

        // Chosen at upload: audio.m4a only, audio alone, moov first.
        let vb = common::video_json(&base, &token, &b).await;
        let listed = vb["playback"]["downloads"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 1, "{vb}");
        assert_eq!(listed[0]["name"], "audio");
        let m4a_url = listed[0]["url"].as_str().unwrap().to_owned();
        assert!(m4a_url.ends_with("/download/audio.m4a"), "{m4a_url}");
        let r = client.get(&m4a_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "audio/mp4");
        let cd = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cd.starts_with("attachment; filename=\"sound-audio.m4a\""),
            "{cd}"
        );
        let bytes = r.bytes().await.unwrap();
        assert_eq!(bytes.len() as i64, listed[0]["bytes"].as_i64().unwrap());
        let boxes = top_level_boxes(&bytes);
        let moov = boxes.iter().position(|b| b == "moov").expect("moov");
        assert!(
            moov < boxes.iter().position(|b| b == "mdat").expect("mdat"),
            "{boxes:?}"
        );
        let m4a = env.scratch.join("audio.m4a");
        std::fs::write(&m4a, &bytes).unwrap();
        let probe = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "csv=p=0",
            ])
            .arg(&m4a)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "audio");

        // None at upload (the default): nothing listed, nothing served.
        let va = common::video_json(&base, &token, &a).await;
        assert_eq!(va["playback"]["downloads"], serde_json::json!([]), "{va}");
        let master = va["playback"]["master"].as_str().unwrap().to_owned();
        let highest = master.replace("master.m3u8", "download/highest.mp4");
        assert_eq!(client.get(&highest).send().await.unwrap().status(), 404);

        // Asked for later: every rung, highest and the audio, without encoding again.
        assert_eq!(
            ask(
                &client,
                &base,
                &token,
                &a,
                serde_json::json!({"downloads": "all"})
            )
            .await,
            202
        );
        let va = common::eventually("the downloads are made", Duration::from_secs(120), || {
            let (base, token, a) = (base.clone(), token.clone(), a.clone());
            async move {
                let v = common::video_json(&base, &token, &a).await;
                (!v["playback"]["downloads"].as_array()?.is_empty()).then_some(v)
            }
        })
        .await;
        // Signed URLs carry the moment they were handed out: compare within one answer.
        let master = va["playback"]["master"].as_str().unwrap().to_owned();
        let downloads = va["playback"]["downloads"].as_array().unwrap();
        let renditions: Vec<&serde_json::Value> = va["playback"]["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"] != "audio")
            .collect();
        let mut names: Vec<&str> = downloads
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        let mut want: Vec<&str> = renditions
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        want.extend(["audio", "highest"]);
        want.sort_unstable();
        assert_eq!(names, want, "{va}");
        let top = renditions
            .iter()
            .max_by_key(|r| r["height"].as_i64())
            .unwrap();
        let high = downloads.iter().find(|d| d["name"] == "highest").unwrap();
        assert_eq!(high["height"], top["height"]);
        assert_eq!(
            high["url"].as_str().unwrap(),
            master.replace("master.m3u8", "download/highest.mp4")
        );

        for rung in &renditions {
            let name = rung["name"].as_str().unwrap();
            let d = downloads.iter().find(|d| d["name"] == name).unwrap();
            let url = d["url"].as_str().unwrap();
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(r.headers()["content-type"], "video/mp4");
            let cd = r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                cd.starts_with(&format!(
                    "attachment; filename=\"Ma-vid-o-later-{name}.mp4\""
                )),
                "{cd}"
            );
            let bytes = r.bytes().await.unwrap();
            let boxes = top_level_boxes(&bytes);
            let moov = boxes.iter().position(|b| b == "moov").expect("moov");
            assert!(
                moov < boxes.iter().position(|b| b == "mdat").expect("mdat"),
                "{name}: {boxes:?}"
            );
            assert!(
                !boxes.iter().any(|b| b == "moof"),
                "{name} is progressive: {boxes:?}"
            );
            let file = env.scratch.join(format!("{name}.mp4"));
            std::fs::write(&file, &bytes).unwrap();
            let from_download = frame_hashes(file.to_str().unwrap());
            let from_hls = frame_hashes(rung["url"].as_str().unwrap());
            assert_eq!(from_download.len(), 300, "{name}: 12 s at 25 fps");
            assert_eq!(
                from_download, from_hls,
                "{name}: the same frames as its HLS rung"
            );
        }

        // A signed video's downloads need their signature; names not listed do not answer.
        let url = high["url"].as_str().unwrap();
        let sig = url
            .split('/')
            .find(|p| p.starts_with("sig-"))
            .expect("signed by default");
        let forged = url.replace(sig, "sig-9999999999-AAAA");
        assert_eq!(client.get(&forged).send().await.unwrap().status(), 403);
        for bad in [
            "download/2160p.mp4",
            "download/../source",
            "download/highest.mkv",
            "download/",
        ] {
            let u = master.replace("master.m3u8", bad);
            assert_eq!(client.get(&u).send().await.unwrap().status(), 404, "{bad}");
        }

        // Changed to `highest`: listed under that one name only.
        assert_eq!(
            ask(
                &client,
                &base,
                &token,
                &a,
                serde_json::json!({"downloads": "highest"})
            )
            .await,
            202
        );
        let va = common::eventually("only highest is listed", Duration::from_secs(120), || {
            let (base, token, a) = (base.clone(), token.clone(), a.clone());
            async move {
                let v = common::video_json(&base, &token, &a).await;
                (v["playback"]["downloads"].as_array()?.len() == 1).then_some(v)
            }
        })
        .await;
        assert_eq!(va["playback"]["downloads"][0]["name"], "highest", "{va}");
        let rung_url = master.replace(
            "master.m3u8",
            &format!("download/{}.mp4", top["name"].as_str().unwrap()),
        );
        assert_eq!(client.get(&rung_url).send().await.unwrap().status(), 404);
        assert_eq!(client.get(&highest).send().await.unwrap().status(), 200);

        // Asked again while a run is remuxing: the last request is what the video keeps.
        assert_eq!(
            ask(
                &client,
                &base,
                &token,
                &a,
                serde_json::json!({"downloads": "all"})
            )
            .await,
            202
        );
        common::eventually("the remux under way", Duration::from_secs(60), || async {
            common::pending_activities(&format!("downloads-{a}"))
                .iter()
                .any(|p| p["state"] == "PENDING_ACTIVITY_STATE_STARTED")
                .then_some(())
        })
        .await;
        assert_eq!(
            ask(
                &client,
                &base,
                &token,
                &a,
                serde_json::json!({"downloads": "audio"})
            )
            .await,
            202
        );
        let va = common::eventually("only audio is listed", Duration::from_secs(120), || {
            let (base, token, a) = (base.clone(), token.clone(), a.clone());
            async move {
                let v = common::video_json(&base, &token, &a).await;
                let d = v["playback"]["downloads"].as_array()?;
                (d.len() == 1 && d[0]["name"] == "audio").then_some(v)
            }
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let settled = common::video_json(&base, &token, &a).await;
        let names = |v: &serde_json::Value| -> Vec<String> {
            v["playback"]["downloads"]
                .as_array()
                .map(|d| d.iter().map(|x| x["name"].to_string()).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            names(&settled),
            names(&va),
            "the replaced run did not record its list after the last one: {settled}"
        );

        // Another owner cannot ask for a video's downloads.
        let other = env.token("someone-else", &["videos:read", "videos:write"]);
        assert_eq!(
            ask(
                &client,
                &base,
                &other,
                &a,
                serde_json::json!({"downloads": "all"})
            )
            .await,
            404
        );
    })
    .await;
    owned.cleanup().await;
}
