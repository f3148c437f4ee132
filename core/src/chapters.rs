//! A video's chapters: what an owner sets (`PUT /v1/videos/{id}/chapters`), how it is checked, and
//! the WebVTT file players read them from (`chapters.vtt`, one cue per chapter, each running to the
//! next chapter's start and the last to the end of the video).

use serde::{Deserialize, Serialize};

/// Chapters a video may have at most.
pub const MAX_CHAPTERS: usize = 500;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Chapter {
    /// Seconds from the start of the video.
    pub start: f64,
    pub title: String,
}

/// Checks `chapters` against a video of `duration_ms`: each start a finite number of seconds
/// inside the video, strictly after the one before, each title one line of 1 to 200 characters.
/// The error names the first chapter at fault (0-based) and what is wrong with it.
pub fn validate(chapters: &[Chapter], duration_ms: u64) -> Result<(), String> {
    if chapters.len() > MAX_CHAPTERS {
        return Err(format!(
            "{} chapters; at most {MAX_CHAPTERS}",
            chapters.len()
        ));
    }
    let duration = duration_ms as f64 / 1000.0;
    let mut previous: Option<f64> = None;
    for (i, c) in chapters.iter().enumerate() {
        if !c.start.is_finite() || c.start < 0.0 {
            return Err(format!(
                "chapter {i}: start {} is not a number of seconds from 0",
                c.start
            ));
        }
        if c.start >= duration {
            return Err(format!(
                "chapter {i}: start {} s is not inside the video ({duration:.3} s long)",
                c.start
            ));
        }
        if let Some(p) = previous
            && c.start <= p
        {
            return Err(format!(
                "chapter {i}: start {} s is not after the previous chapter's ({p} s); chapters are sorted by start",
                c.start
            ));
        }
        previous = Some(c.start);
        let title = c.title.trim();
        if title.is_empty() {
            return Err(format!("chapter {i}: the title is empty"));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(format!(
                "chapter {i}: the title is longer than {MAX_TITLE_CHARS} characters"
            ));
        }
        if title.chars().any(char::is_control) {
            return Err(format!(
                "chapter {i}: the title holds a control character (one line of text)"
            ));
        }
        // "-->" would end a cue's timing line early in some parsers; it is never a title.
        if title.contains("-->") {
            return Err(format!("chapter {i}: the title may not contain \"-->\""));
        }
    }
    Ok(())
}

/// The WebVTT file of validated `chapters` of a video of `duration_ms`.
pub fn webvtt(chapters: &[Chapter], duration_ms: u64) -> String {
    let mut out = String::from("WEBVTT\n");
    let starts: Vec<u64> = chapters
        .iter()
        .map(|c| (c.start * 1000.0).round() as u64)
        .collect();
    for (i, c) in chapters.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(duration_ms);
        out.push_str(&format!(
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            timestamp(starts[i]),
            timestamp(end),
            escape(c.title.trim())
        ));
    }
    out
}

/// A WebVTT timestamp, `hh:mm:ss.ttt`.
pub(crate) fn timestamp(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Cue text is markup: `&` and `<` would start an entity or a tag.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(start: f64, title: &str) -> Chapter {
        Chapter {
            start,
            title: title.into(),
        }
    }

    #[test]
    fn chapters_become_cues_that_run_to_the_next_and_the_last_to_the_end() {
        let c = [
            ch(0.0, "Intro"),
            ch(61.5, "Q&A <live>"),
            ch(3600.0, "Outro"),
        ];
        validate(&c, 3_700_250).unwrap();
        assert_eq!(
            webvtt(&c, 3_700_250),
            "WEBVTT\n\n1\n00:00:00.000 --> 00:01:01.500\nIntro\n\n\
             2\n00:01:01.500 --> 01:00:00.000\nQ&amp;A &lt;live&gt;\n\n\
             3\n01:00:00.000 --> 01:01:40.250\nOutro\n"
        );
        assert_eq!(webvtt(&[], 1000), "WEBVTT\n");
    }

    #[test]
    fn each_fault_is_named_with_its_chapter() {
        let d = 60_000;
        let err = |c: &[Chapter]| validate(c, d).unwrap_err();
        assert!(err(&[ch(0.0, "a"), ch(0.0, "b")]).starts_with("chapter 1: "));
        assert!(err(&[ch(10.0, "a"), ch(5.0, "b")]).contains("sorted"));
        assert!(err(&[ch(60.0, "a")]).contains("not inside the video"));
        assert!(err(&[ch(-1.0, "a")]).starts_with("chapter 0: "));
        assert!(err(&[ch(f64::NAN, "a")]).starts_with("chapter 0: "));
        assert!(err(&[ch(0.0, "  ")]).contains("empty"));
        assert!(err(&[ch(0.0, "a\nb")]).contains("control"));
        assert!(err(&[ch(0.0, "a --> b")]).contains("-->"));
        assert!(err(&[ch(0.0, &"x".repeat(201))]).contains("200"));
        let many: Vec<Chapter> = (0..501).map(|i| ch(i as f64 * 0.1, "c")).collect();
        assert!(err(&many).contains("at most 500"));
        validate(&[ch(0.0, "a"), ch(59.999, "b")], d).unwrap();
    }
}
