//! Downloads: progressive MP4 (`moov` first) of a rung with the audio, and audio-only M4A, remuxed
//! from the published CMAF segments (never re-encoded), under `download/` of the playback base.
//! What a video gets is chosen at upload (`downloads`), defaulting to `VODFLOW_DEFAULT_DOWNLOADS`.

use serde::{Deserialize, Serialize};

/// Which downloads a video has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    #[default]
    None,
    /// `audio.m4a` only.
    Audio,
    /// `highest.mp4`: the top rung with the audio.
    Highest,
    /// Every rung (`720p.mp4`…), `highest.mp4` and `audio.m4a`.
    All,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Audio => "audio",
            Self::Highest => "highest",
            Self::All => "all",
        }
    }
}

impl std::str::FromStr for Choice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "audio" => Ok(Self::Audio),
            "highest" => Ok(Self::Highest),
            "all" => Ok(Self::All),
            other => Err(format!(
                "unknown downloads {:?} (expected none, audio, highest or all)",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// One download as recorded once made and as listed in `playback.downloads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// `720p`, `highest` or `audio`.
    pub name: String,
    /// The stored object's file name under `download/` (`highest` is its rung's file).
    pub object: String,
    pub bytes: u64,
    /// 0 for audio.
    pub width: u32,
    pub height: u32,
}

impl Download {
    /// The file name it is served under: one URL per listed download.
    pub fn file_name(&self) -> String {
        if self.name == "audio" {
            "audio.m4a".into()
        } else {
            format!("{}.mp4", self.name)
        }
    }
}

/// What to make: the rungs (by name) to remux with the audio, and whether the audio alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub rungs: Vec<String>,
    pub highest: Option<String>,
    pub audio: bool,
}

/// `rungs` smallest first, as the ladder lists them; `has_audio`: the source had sound.
pub fn wanted(choice: Choice, rungs: &[(String, u32, u32)], has_audio: bool) -> Wanted {
    let top = rungs
        .iter()
        .max_by_key(|(_, w, h)| u64::from(*w) * u64::from(*h))
        .map(|(n, _, _)| n.clone());
    match choice {
        Choice::None => Wanted {
            rungs: vec![],
            highest: None,
            audio: false,
        },
        Choice::Audio => Wanted {
            rungs: vec![],
            highest: None,
            audio: has_audio,
        },
        Choice::Highest => Wanted {
            rungs: top.iter().cloned().collect(),
            highest: top,
            audio: false,
        },
        Choice::All => Wanted {
            rungs: rungs.iter().map(|(n, _, _)| n.clone()).collect(),
            highest: top,
            audio: has_audio,
        },
    }
}

/// A `Content-Disposition` for a download: the title made safe as a file name (ASCII letters,
/// digits, `-`, `_`, at most 80), with the download's name, and the title itself in UTF-8
/// (RFC 6266 `filename*`) for clients that read it.
pub fn content_disposition(title: &str, download: &Download) -> String {
    let ext = if download.name == "audio" {
        "m4a"
    } else {
        "mp4"
    };
    let mut safe = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            safe.push(c);
        } else if !safe.ends_with('-') && !safe.is_empty() {
            safe.push('-');
        }
        if safe.len() >= 80 {
            break;
        }
    }
    let safe = safe.trim_end_matches('-');
    let stem = if safe.is_empty() { "video" } else { safe };
    let ascii = format!("{stem}-{}.{ext}", download.name);
    let utf8: String = format!("{}-{}.{ext}", title.trim(), download.name)
        .chars()
        .take(200)
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(&utf8)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Vec<(String, u32, u32)> {
        vec![
            ("144p".into(), 256, 144),
            ("720p".into(), 1280, 720),
            ("360p".into(), 640, 360),
        ]
    }

    #[test]
    fn each_choice_names_what_it_makes() {
        assert_eq!(wanted(Choice::None, &ladder(), true).rungs.len(), 0);
        let a = wanted(Choice::Audio, &ladder(), true);
        assert!(a.audio && a.rungs.is_empty());
        assert!(
            !wanted(Choice::Audio, &ladder(), false).audio,
            "no sound, no m4a"
        );
        let h = wanted(Choice::Highest, &ladder(), true);
        assert_eq!(h.rungs, ["720p"]);
        assert_eq!(h.highest.as_deref(), Some("720p"));
        assert!(!h.audio);
        let all = wanted(Choice::All, &ladder(), true);
        assert_eq!(all.rungs, ["144p", "720p", "360p"]);
        assert!(all.audio);
    }

    #[test]
    fn choices_parse_exactly_and_refuse_the_rest() {
        for c in [Choice::None, Choice::Audio, Choice::Highest, Choice::All] {
            assert_eq!(c.as_str().parse::<Choice>(), Ok(c));
        }
        assert!("ALL".parse::<Choice>().is_err());
        assert!("x".repeat(10_000).parse::<Choice>().unwrap_err().len() < 200);
    }

    #[test]
    fn the_file_name_is_safe_whatever_the_title() {
        let d = Download {
            name: "720p".into(),
            object: "720p.mp4".into(),
            bytes: 1,
            width: 1280,
            height: 720,
        };
        let cd = content_disposition("Ma vidéo \"finale\"\r\n/../x", &d);
        assert!(
            cd.starts_with("attachment; filename=\"Ma-vid-o-finale-x-720p.mp4\"; filename*=UTF-8''Ma%20vid%C3%A9o%20%22finale%22"),
            "{cd}"
        );
        assert!(!cd.contains('\r') && !cd.contains('\n'));
        assert_eq!(
            content_disposition("", &d),
            "attachment; filename=\"video-720p.mp4\"; filename*=UTF-8''-720p.mp4"
        );
    }
}
