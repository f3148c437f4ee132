//! Every parser of client bytes in core, fed the seed corpus kept in the repo (`fuzz/corpus/`) and
//! thousands of deterministic mutations of it: each answers (accepts or refuses with a reason)
//! and never panics, and what it accepts holds its promises. A crash found here or by the
//! property tests becomes a seed file.

#[path = "../../fuzz/mutate.rs"]
mod mutate;

use vodflow_core::container::{SNIFF_BYTES, sniff};
use vodflow_core::images::{
    ANIMATED_MAX_FPS, ANIMATED_MAX_MS, ANIMATED_MAX_WIDTH, Animated, AnimatedFormat, Bounds,
    MAX_SIDE, Still, StillFormat, ms_of,
};
use vodflow_core::text_tracks;

const MUTATIONS: usize = 400;

#[test]
fn the_sniffer_answers_every_mutation_of_the_corpus() {
    for (name, seed) in mutate::seeds("sniff") {
        for (i, m) in mutate::mutations(&seed, MUTATIONS).iter().enumerate() {
            let head = &m[..m.len().min(SNIFF_BYTES)];
            for complete in [false, true] {
                let r = std::panic::catch_unwind(|| sniff(head, complete).is_ok());
                assert!(r.is_ok(), "sniff panicked on {name} mutation {i}: {m:?}");
            }
        }
    }
}

#[test]
fn text_tracks_accept_only_cues_inside_the_video_and_name_the_line_of_a_fault() {
    let duration_ms = 60_000;
    let mut accepted = 0;
    for (name, seed) in mutate::seeds("text_track") {
        for (i, m) in mutate::mutations(&seed, MUTATIONS).iter().enumerate() {
            let r = std::panic::catch_unwind(|| text_tracks::parse(m, duration_ms));
            let Ok(r) = r else {
                panic!(
                    "text_tracks::parse panicked on {name} mutation {i}: {:?}",
                    String::from_utf8_lossy(m)
                );
            };
            match r {
                Ok(cues) => {
                    accepted += 1;
                    for c in &cues {
                        assert!(
                            c.start_ms < c.end_ms && c.end_ms <= duration_ms,
                            "{name} #{i}: {c:?}"
                        );
                        assert!(!c.text.contains("-->"), "{name} #{i}: {c:?}");
                    }
                    assert!(cues.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
                }
                Err(e) => {
                    // WebVTT ends a line at CR, LF or CRLF: at most one line per terminator.
                    let lines = 1 + m.iter().filter(|b| **b == b'\n' || **b == b'\r').count();
                    assert!(
                        e.line >= 1 && e.line <= lines,
                        "{name} #{i}: line {}",
                        e.line
                    );
                    assert!(!e.reason.is_empty());
                }
            }
        }
    }
    assert!(accepted > 0, "the valid seeds and some mutations parse");
}

#[test]
fn image_queries_are_bounded_whatever_they_say() {
    let b = Bounds {
        duration_ms: 30_000,
        poster_ms: 3_000,
        width: 1920,
    };
    for (name, seed) in mutate::seeds("image_query") {
        for (i, m) in mutate::mutations(&seed, MUTATIONS).iter().enumerate() {
            let q = String::from_utf8_lossy(m);
            for f in [StillFormat::Jpeg, StillFormat::Png, StillFormat::Webp] {
                let r = std::panic::catch_unwind(|| Still::parse(&q, f, &b));
                let Ok(r) = r else {
                    panic!("Still::parse panicked on {name} #{i}: {q:?}")
                };
                if let Ok(s) = r {
                    assert!(ms_of(s.tick) <= b.duration_ms, "{q:?}: {s:?}");
                    let (w, h) = s.needs((1920, 1080));
                    assert!(w <= MAX_SIDE && h <= MAX_SIDE, "{q:?}: {s:?}");
                }
            }
            for f in [AnimatedFormat::Webp, AnimatedFormat::Gif] {
                let r = std::panic::catch_unwind(|| Animated::parse(&q, f, &b));
                let Ok(r) = r else {
                    panic!("Animated::parse panicked on {name} #{i}: {q:?}")
                };
                if let Ok(a) = r {
                    let (start, end) = (ms_of(a.start_tick), ms_of(a.end_tick));
                    assert!(start < end && end <= b.duration_ms, "{q:?}: {a:?}");
                    assert!(end - start <= ANIMATED_MAX_MS + 17, "{q:?}: {a:?}");
                    assert!(a.width <= ANIMATED_MAX_WIDTH && a.width > 0, "{q:?}: {a:?}");
                    assert!(a.fps <= ANIMATED_MAX_FPS && a.fps > 0, "{q:?}: {a:?}");
                }
            }
        }
    }
}
