//! Tools beside the platform: the configuration it reads, and the exact command lines and ladder
//! `make bench` compares vodflow against (taken from the code, so the bench cannot drift from it).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(super) enum Tool {
    /// Print every configuration variable with its default and current value.
    Config {
        /// Print the README's Markdown table instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Print, one argument per line, the single ffmpeg process that makes a source's whole ladder
    /// and audio with the chunk encodes' exact settings: `make bench`'s "same parameters" floor.
    #[command(name = "floor-command")]
    Floor {
        /// The source file.
        input: String,
        /// Directory for the outputs.
        out_dir: std::path::PathBuf,
        /// Display width of the source.
        #[arg(long)]
        width: u32,
        /// Display height of the source.
        #[arg(long)]
        height: u32,
        /// Frame rate as N/D.
        #[arg(long, default_value = "30/1")]
        fps: String,
        /// Duration in seconds.
        #[arg(long)]
        seconds: f64,
        /// The source has audio.
        #[arg(long)]
        audio: bool,
        /// Threads per encoder (0: ffmpeg chooses).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Print, one argument per line, the ffmpeg process `create_storyboard` runs on a rendition
    /// (its init and media segments as one file): `make bench`'s storyboard cost.
    #[command(name = "storyboard-command")]
    StoryboardArgs {
        /// The rendition as one fragmented MP4.
        input: std::path::PathBuf,
        /// Directory for the sheets.
        out_dir: std::path::PathBuf,
        /// The rendition's width.
        #[arg(long)]
        width: u32,
        /// The rendition's height.
        #[arg(long)]
        height: u32,
        /// The video's duration in seconds.
        #[arg(long)]
        seconds: f64,
    },
    /// Print the renditions vodflow makes of a source of this display size, one per line:
    /// `name width height video-kbps profile` (`make bench` encodes its floors with exactly these).
    Ladder {
        /// Display size of the source, WxH.
        size: String,
    },
}

pub(super) fn run(tool: Tool) -> anyhow::Result<()> {
    match tool {
        Tool::Ladder { size } => {
            let (w, h) = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .filter(|&(w, h): &(u32, u32)| w > 0 && h > 0)
                .ok_or_else(|| anyhow::anyhow!("the size must be WxH, e.g. 1920x1080"))?;
            for r in vodflow_core::ladder::plan_renditions(w, h) {
                out!(
                    "{} {} {} {} {}",
                    r.name,
                    r.width,
                    r.height,
                    r.video_kbps,
                    r.profile
                );
            }
        }
        Tool::Floor {
            input,
            out_dir,
            width,
            height,
            fps,
            seconds,
            audio,
            threads,
        } => {
            let (num, den) = fps
                .split_once('/')
                .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                .filter(|&(n, d): &(u32, u32)| n > 0 && d > 0)
                .ok_or_else(|| anyhow::anyhow!("--fps must be N/D, e.g. 30/1 or 30000/1001"))?;
            let info = vodflow_workflows::types::SourceInfo {
                duration_ms: (seconds.max(0.0) * 1000.0).round() as u64,
                width,
                height,
                rotation: 0,
                fps_num: num,
                fps_den: den,
                video_codec: "h264".into(),
                audio_codec: audio.then(|| "aac".to_owned()),
                container: "mov".into(),
                interlaced: false,
                hdr_transfer: None,
                audio_tracks: Vec::new(),
            };
            for arg in vodflow_activities::media::encode::one_process_args(
                &info, &input, threads, &out_dir,
            ) {
                out!("{arg}");
            }
        }
        Tool::StoryboardArgs {
            input,
            out_dir,
            width,
            height,
            seconds,
        } => {
            let plan = vodflow_core::storyboard::Plan::new(
                (seconds.max(0.0) * 1000.0).round() as u64,
                width,
                height,
            );
            for arg in
                vodflow_activities::media::storyboard::storyboard_args(&input, &plan, &out_dir)
            {
                out!("{arg}");
            }
        }
        Tool::Config { markdown: true } => {
            out!("| variable | default | meaning |\n|---|---|---|");
            for v in vodflow_core::config::VARS {
                out!("| `{}` | `{}` | {} |", v.name, v.default, v.help);
            }
        }
        Tool::Config { markdown: false } => {
            for v in vodflow_core::config::VARS {
                let secret = vodflow_core::config::SECRETS.contains(&v.name);
                let current = std::env::var(v.name).ok().map(|c| {
                    if secret && !c.is_empty() {
                        "(set, redacted)".to_owned()
                    } else {
                        c
                    }
                });
                out!(
                    "{:<36} {}\n    default: {:?}{}",
                    v.name,
                    v.help,
                    v.default,
                    current
                        .map(|c| format!("\n    current: {c:?}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
