//! Test media generated with the ffmpeg CLI (lavfi testsrc2 + sine): small, deterministic, real.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Spec {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub fps: u32,
    pub audio: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            width: 320,
            height: 180,
            seconds: 2.0,
            fps: 25,
            audio: true,
        }
    }
}

pub fn make_video(dir: &Path, name: &str, spec: &Spec) -> PathBuf {
    let out = dir.join(name);
    let video = format!(
        "testsrc2=size={}x{}:rate={}:duration={}",
        spec.width, spec.height, spec.fps, spec.seconds
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &video,
    ]);
    if spec.audio {
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            &format!(
                "sine=frequency=440:sample_rate=48000:duration={}",
                spec.seconds
            ),
        ]);
        cmd.args(["-c:a", "aac", "-b:a", "96k"]);
    }
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
    ]);
    cmd.arg(&out);
    let status = cmd
        .status()
        .expect("ffmpeg is installed by scripts/install");
    assert!(status.success(), "ffmpeg failed to generate {name}");
    out
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).expect("read");
    hex::encode(h.finalize())
}

/// Luma SSIM of two images of the same size, as ffmpeg's `ssim` filter computes it (over RGB
/// planes it would score JPEG's chroma at tile size, not the picture).
pub fn ssim(a: &Path, b: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args([
            "-lavfi",
            "[0]format=gray[a];[1]format=gray[b];[a][b]ssim",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    log.split("All:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no SSIM in {log}"))
}

/// Runs the ffmpeg CLI quietly and asserts it succeeded.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// A file whose boxes chain like an MP4 (so the upload's strict sniffer accepts it) but whose
/// media is text: it must fail at probe, never be decoded into anything.
pub fn fake_mp4(path: &Path, filler: &[u8]) {
    let mut v = b"\0\0\0\x18ftypisom\0\0\0\0isomavc1".to_vec();
    let body = filler.repeat(200);
    v.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
    v.extend_from_slice(b"mdat");
    v.extend_from_slice(&body);
    std::fs::write(path, v).expect("write fake mp4");
}

/// `ffprobe -v error <args> <path>`: its output, or the test fails with ffprobe's complaint.
pub fn ffprobe(args: &[&str], path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
