//! Every audio stream of a source becomes an audio track: an HLS audio rendition (`audio` for the
//! first, `audio-2`, `audio-3`… after it) in the master's audio group, a DASH audio adaptation set,
//! and an entry in the player's audio menu. What the container says of each stream (language,
//! title, default, commentary, audio description) is read through sanitizers: tags are the
//! uploader's text and end up inside playlists and manifests.

use serde::{Deserialize, Serialize};

/// At most this many audio streams are published; a source with more is refused by the probe.
pub const MAX_AUDIO_TRACKS: usize = 8;
const MAX_NAME_CHARS: usize = 64;

/// One audio stream of the source as it is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioTrack {
    /// 0-based among the source's audio streams (`-map 0:a:N`).
    pub index: u32,
    /// A well-formed BCP 47 tag as the source gave it (`en`, `eng`, `pt-BR`), else `und`.
    pub language: String,
    /// What players show: unique within the video.
    pub name: String,
    /// The one track players pick unless the viewer chooses another.
    pub default: bool,
    /// A commentary track (not picked automatically).
    #[serde(default)]
    pub commentary: bool,
    /// Audio description for viewers who cannot see the picture.
    #[serde(default)]
    pub descriptive: bool,
}

impl AudioTrack {
    /// The rendition's name in keys, playlists and URLs: `audio`, `audio-2`, `audio-3`…
    pub fn rendition(&self) -> String {
        rendition_name(self.index)
    }
}

pub fn rendition_name(index: u32) -> String {
    match index {
        0 => "audio".into(),
        n => format!("audio-{}", n + 1),
    }
}

/// What the container says of one audio stream.
#[derive(Debug, Default, Clone)]
pub struct StreamTags<'a> {
    pub language: Option<&'a str>,
    pub title: Option<&'a str>,
    pub default: bool,
    pub comment: bool,
    pub visual_impaired: bool,
}

/// The tracks of a source's audio streams, in stream order: exactly one default (the first the
/// container marks, else the first that is not commentary or description, else the first), names
/// unique.
pub fn tracks(streams: &[StreamTags<'_>]) -> Vec<AudioTrack> {
    let mut out: Vec<AudioTrack> = Vec::with_capacity(streams.len());
    for (i, s) in streams.iter().enumerate() {
        let language = language_tag(s.language.unwrap_or(""));
        let base = s
            .title
            .map(clean_name)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| {
                if language == "und" {
                    format!("Audio {}", i + 1)
                } else {
                    language.clone()
                }
            });
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|t| t.name == name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        out.push(AudioTrack {
            index: i as u32,
            language,
            name,
            default: false,
            commentary: s.comment,
            descriptive: s.visual_impaired,
        });
    }
    let pick = streams
        .iter()
        .position(|s| s.default)
        .or_else(|| out.iter().position(|t| !t.commentary && !t.descriptive))
        .unwrap_or(0);
    if let Some(t) = out.get_mut(pick) {
        t.default = true;
    }
    out
}

/// `raw` when it is a well-formed language tag (a 2–3 letter language, then subtags of 1–8
/// letters or digits, at most 35 characters), else `und`.
pub fn language_tag(raw: &str) -> String {
    let raw = raw.trim();
    let mut parts = raw.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if lang_ok && rest_ok && raw.len() <= 35 {
        raw.to_owned()
    } else {
        "und".into()
    }
}

/// A title as one safe line: no quotes, control characters or markup, spaces collapsed, at most
/// 64 characters.
fn clean_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_control() || c.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        } else if !matches!(c, '"' | '\'' | '<' | '>' | '&' | '\\' | ',') {
            out.push(c);
        }
        if out.chars().count() >= MAX_NAME_CHARS {
            break;
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_languages_become_two_named_tracks_with_one_default() {
        let t = tracks(&[
            StreamTags {
                language: Some("eng"),
                title: Some("English"),
                ..Default::default()
            },
            StreamTags {
                language: Some("fra"),
                ..Default::default()
            },
        ]);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].language.as_str(), t[0].name.as_str()),
            ("eng", "English")
        );
        assert_eq!((t[1].language.as_str(), t[1].name.as_str()), ("fra", "fra"));
        assert!(t[0].default && !t[1].default);
        assert_eq!(t[1].rendition(), "audio-2");
        assert_eq!(t[0].rendition(), "audio");
    }

    #[test]
    fn the_containers_default_wins_and_commentary_is_never_picked_otherwise() {
        let t = tracks(&[
            StreamTags {
                comment: true,
                ..Default::default()
            },
            StreamTags::default(),
            StreamTags {
                default: true,
                ..Default::default()
            },
        ]);
        assert_eq!(t.iter().filter(|t| t.default).count(), 1);
        assert!(t[2].default);
        let t = tracks(&[
            StreamTags {
                comment: true,
                ..Default::default()
            },
            StreamTags::default(),
        ]);
        assert!(t[1].default && t[0].commentary);
        assert_eq!(t[0].name, "Audio 1");
    }

    #[test]
    fn absurd_tags_are_read_as_nothing_and_names_stay_unique() {
        for bad in [
            "",
            "e",
            "english-language-tag-that-goes-on-and-on",
            "en\"\n#EXT-X-MEDIA",
            "x'<script>",
            "en--US",
            &"a".repeat(10_000),
        ] {
            assert_eq!(language_tag(bad), "und", "{bad:?}");
        }
        assert_eq!(language_tag("pt-BR"), "pt-BR");
        let t = tracks(&[
            StreamTags {
                title: Some("Main \"mix\"\n#EXT-X-ENDLIST"),
                ..Default::default()
            },
            StreamTags {
                title: Some("Main mix #EXT-X-ENDLIST"),
                ..Default::default()
            },
        ]);
        assert_eq!(t[0].name, "Main mix #EXT-X-ENDLIST");
        assert_eq!(t[1].name, "Main mix #EXT-X-ENDLIST (2)");
        let long = tracks(&[StreamTags {
            title: Some(&"x".repeat(5000)),
            ..Default::default()
        }]);
        assert_eq!(long[0].name.chars().count(), 64);
    }
}
