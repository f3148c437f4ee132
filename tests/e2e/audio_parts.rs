//! A long source's audio is encoded in parts side by side (`VODFLOW_AUDIO_PARTS_AFTER`, lowered
//! here so a 40 s clip has parts) and joined at AAC frame boundaries. What players get is checked
//! against one ffmpeg process encoding the same audio with the same settings: the same number of
//! frames on the same timeline, the first part's frames byte for byte, later frames from another
//! encoder (so the parts did run), and no seam: a tenth of a second at a time against the source,
//! the joins decode as well as the single encode does there, and the whole as well as it does.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A source whose audio stops long before its video (a recording muted half way): the parts,
/// planned on the video's 40 s, would leave the first part short of its range. It gets the single
/// encode, and plays with all of its 12 s of audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audio_that_ends_before_the_video_is_encoded_whole() {
    let owned = common::processing_env(&[("VODFLOW_AUDIO_PARTS_AFTER", "5s")]).await;
    let env = &owned;
    let source = env.scratch.join("short-audio.mp4");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=10:duration=40",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ],
        &source,
    );
    let token = env.token("audio-parts", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let id = common::upload(&base, &token, &source, "muted half way").await;
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let (url, _) = common::rendition_url(&base, &token, &id, "audio").await;
        let dir = &env.scratch;
        let rendition = download_rendition(&url, &dir.join("short.mp4")).await;
        let published = frames(rendition.to_str().unwrap(), dir, "short.aac");
        // 12 s at 48 kHz is 562.5 frames: the priming frame, 563, and the encoder's last.
        assert!(
            (563..=566).contains(&published.len()),
            "{} frames",
            published.len()
        );
    })
    .await;
    owned.cleanup().await;
}

/// 40 s of 160x90 video and a stereo signal with moving pitch and a steady high tone (a seam
/// or a frame out of place shows as a burst of error against the single encode).
fn clip(dir: &Path) -> PathBuf {
    let out = dir.join("long-audio.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=10:duration=40")
        .args(["-f", "lavfi", "-i"])
        .arg(
            "aevalsrc=0.4*sin(2*PI*(200+40*t)*t)+0.2*sin(2*PI*3000*t)|0.3*sin(2*PI*(500+10*t)*t):s=48000:d=40",
        )
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k"])
        .args(["-shortest"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// A media playlist's init segment and segments, in order, as one fragmented MP4 at `out`.
async fn download_rendition(playlist: &str, out: &Path) -> PathBuf {
    let http = reqwest::Client::new();
    let get = |u: String| {
        let http = http.clone();
        async move {
            let r = http.get(&u).send().await.unwrap();
            assert!(r.status().is_success(), "{u}: {}", r.status());
            r.bytes().await.unwrap()
        }
    };
    let base = url::Url::parse(playlist).unwrap();
    let text = String::from_utf8(get(playlist.to_owned()).await.to_vec()).unwrap();
    let mut file = Vec::new();
    for line in text.lines() {
        let uri = if let Some(map) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            map.split('"').next().unwrap()
        } else if !line.starts_with('#') && !line.is_empty() {
            line
        } else {
            continue;
        };
        file.extend_from_slice(&get(base.join(uri).unwrap().to_string()).await);
    }
    std::fs::write(out, file).unwrap();
    out.to_owned()
}

/// The AAC frames (ADTS, header included) of `input`'s first audio stream, copied.
fn frames(input: &str, dir: &Path, name: &str) -> Vec<Vec<u8>> {
    let out = dir.join(name);
    ffmpeg(
        &["-i", input, "-map", "0:a:0", "-c:a", "copy", "-f", "adts"],
        &out,
    );
    let data = std::fs::read(&out).unwrap();
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 7 <= data.len() {
        assert!(
            data[at] == 0xFF && data[at + 1] & 0xF6 == 0xF0,
            "{name}: no ADTS frame at byte {at} of {}: {:02x?}",
            data.len(),
            &data[at..(at + 16).min(data.len())]
        );
        let size = (usize::from(data[at + 3] & 3) << 11)
            | (usize::from(data[at + 4]) << 3)
            | usize::from(data[at + 5] >> 5);
        assert!(
            size >= 7 && at + size <= data.len(),
            "{name}: a frame of {size} bytes at {at}"
        );
        frames.push(data[at..at + size].to_vec());
        at += size;
    }
    frames
}

fn ffmpeg(args: &[&str], out: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Decoded 16-bit stereo samples of an ADTS file.
fn pcm(adts: &Path, dir: &Path) -> Vec<i16> {
    let out = dir.join(format!(
        "{}.pcm",
        adts.file_stem().unwrap().to_string_lossy()
    ));
    ffmpeg(
        &[
            "-f",
            "aac",
            "-i",
            adts.to_str().unwrap(),
            "-f",
            "s16le",
            "-ac",
            "2",
        ],
        &out,
    );
    std::fs::read(&out)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn snr_db(got: &[i16], want: &[i16]) -> f64 {
    let (mut err, mut power) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        err += (f64::from(*g) - f64::from(*w)).powi(2);
        power += f64::from(*w).powi(2);
    }
    10.0 * (power / err.max(1.0)).log10()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_sources_audio_in_parts_is_the_single_encodes_timeline_without_seams() {
    let owned = common::processing_env(&[("VODFLOW_AUDIO_PARTS_AFTER", "5s")]).await;
    let env = &owned;
    let source = clip(&env.scratch);
    let token = env.token("audio-parts", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let id = common::upload(&base, &token, &source, "long audio").await;
        common::wait_for_status(env, &id, &["ready"], Duration::from_secs(180)).await;
        let (url, _) = common::rendition_url(&base, &token, &id, "audio").await;
        let dir = &env.scratch;
        let rendition = download_rendition(&url, &dir.join("published.mp4")).await;
        let published = frames(rendition.to_str().unwrap(), dir, "published.aac");
        // One process, the single path's settings (`media::audio::audio_args`).
        let single_file = dir.join("single.aac");
        ffmpeg(
            &[
                "-i",
                source.to_str().unwrap(),
                "-map",
                "0:a:0",
                "-vn",
                "-c:a",
                "aac",
                "-profile:a",
                "aac_low",
                "-b:a",
                "128k",
                "-ar",
                "48000",
                "-ac",
                "2",
                "-f",
                "adts",
            ],
            &single_file,
        );
        let single = frames(single_file.to_str().unwrap(), dir, "single-copy.aac");
        assert_eq!(
            published.len(),
            single.len(),
            "the same frames, the same timeline"
        );
        // ADTS headers carry the frame length; the payloads from the first part's own encoder.
        assert_eq!(
            published[..200],
            single[..200],
            "the first part is the single encode's start"
        );
        assert!(
            published.iter().zip(&single).skip(200).any(|(a, b)| a != b),
            "later frames come from the other parts' encoders"
        );
        let published_file = dir.join("published-joined.aac");
        std::fs::write(&published_file, published.concat()).unwrap();
        let (got, want) = (pcm(&published_file, dir), pcm(&single_file, dir));
        assert_eq!(got.len(), want.len());
        // Against the source itself (decoded; the encodes lead with their priming frame, 1024
        // stereo samples), a tenth of a second at a time: a seam or a shifted frame is a burst
        // of error that the single encode does not have.
        let source_pcm = dir.join("source.pcm");
        ffmpeg(
            &[
                "-i",
                source.to_str().unwrap(),
                "-map",
                "0:a:0",
                "-f",
                "s16le",
                "-ac",
                "2",
            ],
            &source_pcm,
        );
        let mut reference: Vec<i16> = vec![0; 2048];
        reference.extend(
            std::fs::read(&source_pcm)
                .unwrap()
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        let window = 9_600;
        let windows = |x: &[i16]| -> Vec<f64> {
            x.chunks(window)
                .zip(reference.chunks(window))
                .skip(1)
                .filter(|(a, b)| a.len() == window && b.len() == window)
                .map(|(g, w)| snr_db(g, w))
                .collect()
        };
        let (ours, theirs) = (windows(&got), windows(&want));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        eprintln!(
            "against the source: parts mean {:.1} dB, worst {:.1}; single mean {:.1}, worst {:.1}",
            mean(&ours),
            min(&ours),
            mean(&theirs),
            min(&theirs)
        );
        // ffmpeg's AAC encoder has bursts of error of its own (the single encode's worst tenth
        // is ~15 dB): the parts' encoders have theirs elsewhere, no worse.
        assert!(
            mean(&ours) > mean(&theirs) - 1.5,
            "parts mean {:.1} dB, single {:.1}",
            mean(&ours),
            mean(&theirs)
        );
        assert!(min(&ours) > min(&theirs) - 6.0);
        // Each join decodes within the encoder's own range: a part joined a frame off, or one
        // whose encoder had no signal past its end, measures under 12 dB there (tried); the
        // single encode's own worst tenth is ~15 dB (window `i` starts at tenth `i + 1`).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parts = vodflow_activities::media::audio_parts::plan(
            40.0,
            vodflow_activities::media::audio_parts::count(40.0, cores),
        );
        assert!(parts.len() > 1, "{parts:?}");
        for part in &parts[1..] {
            let sample = (part.start + 1) * 1024 * 2;
            let at = (sample / window as u64) as usize - 1;
            for i in at.saturating_sub(2)..=(at + 2).min(ours.len() - 1) {
                assert!(
                    ours[i] > 20.0 && ours[i] > min(&theirs),
                    "the join at frame {}: {:.1} dB (the single encode: {:.1} there, {:.1} at worst)",
                    part.start,
                    ours[i],
                    theirs[i],
                    min(&theirs)
                );
            }
        }
    })
    .await;
    owned.cleanup().await;
}
