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

/// Runs the ffmpeg CLI quietly and asserts it succeeded.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg {args:?} failed");
}
