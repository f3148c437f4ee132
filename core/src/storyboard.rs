//! A video's storyboard: small frames at regular times, packed into sprite sheets, and the WebVTT
//! file players read to show the frame under the pointer when it hovers the seek bar (Mux,
//! Jellyfin and Vidstack read the same shape: a cue per tile, its text
//! `storyboard-N.jpg#xywh=x,y,w,h`).
//!
//! One tile per second up to 200 s, then one per `duration / 200` (rounded up to the half second),
//! so a storyboard has at most ~200 tiles however long the video; each tile is the first frame at
//! or after its cue's start.

/// Tiles a storyboard has at most (a few more when rounding the interval up cannot avoid it).
pub const MAX_TILES: u64 = 200;
/// The box a tile fits in, keeping the video's shape.
pub const TILE_BOX: u32 = 160;
/// Tiles per row and rows per sheet: 100 tiles, a 16:9 sheet of 1600×900 at most.
pub const COLUMNS: u32 = 10;
pub const ROWS: u32 = 10;

/// Where the tiles of a video of a given duration and shape go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub interval_ms: u64,
    pub tiles: u32,
    pub tile_width: u32,
    pub tile_height: u32,
    pub duration_ms: u64,
}

impl Plan {
    pub fn new(duration_ms: u64, width: u32, height: u32) -> Self {
        let interval_ms = (duration_ms.div_ceil(MAX_TILES).div_ceil(500) * 500).max(1000);
        let tiles = duration_ms.div_ceil(interval_ms).max(1) as u32;
        let (w, h) = (width.max(1) as u64, height.max(1) as u64);
        let even = |v: u64| ((v.max(2) / 2) * 2) as u32;
        let (tile_width, tile_height) = if w >= h {
            (TILE_BOX, even(TILE_BOX as u64 * h / w))
        } else {
            (even(TILE_BOX as u64 * w / h), TILE_BOX)
        };
        Self {
            interval_ms,
            tiles,
            tile_width,
            tile_height,
            duration_ms,
        }
    }

    /// The segments (numbered from 1, `segment_ms` long) whose frames the tiles need, when
    /// tiles are far enough apart that reading only those saves most of the rendition: the one
    /// holding each tile's time and the next (its first frame at or after that time may be
    /// there). `None`: every segment. A 12-hour video has 200 tiles over 10,800 segments; read
    /// one by one from the store, the whole rendition was 8 minutes of its run.
    pub fn segments_needed(&self, segment_ms: u64) -> Option<std::collections::BTreeSet<u32>> {
        let segment_ms = segment_ms.max(1);
        if self.interval_ms < 4 * segment_ms {
            return None;
        }
        let mut needed = std::collections::BTreeSet::new();
        for k in 0..u64::from(self.tiles) {
            let n = (k * self.interval_ms / segment_ms) as u32 + 1;
            needed.insert(n);
            needed.insert(n + 1);
        }
        Some(needed)
    }

    pub fn sheets(&self) -> u32 {
        self.tiles.div_ceil(COLUMNS * ROWS)
    }

    /// The ffmpeg filter that turns decoded frames into sheets: the first frame of each interval,
    /// scaled into the tile, ten by ten.
    pub fn filter(&self) -> String {
        let i = self.interval_ms as f64 / 1000.0;
        format!(
            "select='isnan(prev_selected_t)+gte(floor(t/{i})-floor(prev_selected_t/{i}),1)',scale={}:{}:flags=bicubic,setsar=1,tile={COLUMNS}x{ROWS}",
            self.tile_width, self.tile_height
        )
    }

    /// The WebVTT file: a cue per tile, back to back from 0 to the end of the video, each naming
    /// its sheet by `sheet_url(n)` and its place in it.
    pub fn webvtt(&self, sheet_url: impl Fn(u32) -> String) -> String {
        let mut out = String::from("WEBVTT\n\n");
        for i in 0..self.tiles {
            let start = i as u64 * self.interval_ms;
            let end = ((i as u64 + 1) * self.interval_ms).min(self.duration_ms);
            if end <= start {
                break;
            }
            let on_sheet = i % (COLUMNS * ROWS);
            let (x, y) = (
                on_sheet % COLUMNS * self.tile_width,
                on_sheet / COLUMNS * self.tile_height,
            );
            out.push_str(&format!(
                "{} --> {}\n{}#xywh={x},{y},{},{}\n\n",
                crate::chapters::timestamp(start),
                crate::chapters::timestamp(end),
                sheet_url(i / (COLUMNS * ROWS)),
                self.tile_width,
                self.tile_height
            ));
        }
        out
    }
}

/// `storyboard-3.jpg`.
pub fn sheet_name(n: u32) -> String {
    format!("storyboard-{n}.jpg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_apart_tiles_read_only_the_segments_around_them() {
        // A 12-minute video: a tile every 4 s, every segment holds one: all of them.
        assert_eq!(Plan::new(720_000, 426, 240).segments_needed(4_000), None);
        let twelve_hours = Plan::new(43_200_000, 426, 240);
        let needed = twelve_hours.segments_needed(4_000).unwrap();
        assert_eq!(twelve_hours.interval_ms, 216_000);
        assert_eq!(needed.len(), 400, "two per tile of 200, of 10,800");
        // Each tile's time lies in a segment read, the next one read too.
        for k in 0..u64::from(twelve_hours.tiles) {
            let t = k * twelve_hours.interval_ms;
            let n = (t / 4_000) as u32 + 1;
            let (from, to) = (u64::from(n - 1) * 4_000, u64::from(n) * 4_000);
            assert!(from <= t && t < to);
            assert!(needed.contains(&n) && needed.contains(&(n + 1)), "tile {k}");
        }
    }

    #[test]
    fn short_videos_get_a_tile_a_second_and_long_ones_at_most_about_two_hundred() {
        let p = Plan::new(60_000, 1920, 1080);
        assert_eq!(
            (p.interval_ms, p.tiles, p.tile_width, p.tile_height),
            (1000, 60, 160, 90)
        );
        assert_eq!(p.sheets(), 1);
        assert_eq!(Plan::new(400_000, 1920, 1080).interval_ms, 2000);
        for d in [1_000, 59_999, 3_600_000, 12 * 3_600_000, 43_210_987] {
            let p = Plan::new(d, 1280, 720);
            assert!(p.tiles as u64 <= MAX_TILES, "{d}: {p:?}");
            assert!(p.tiles as u64 * p.interval_ms >= d, "{d}: covered");
        }
        let portrait = Plan::new(10_000, 1080, 1920);
        assert_eq!((portrait.tile_width, portrait.tile_height), (90, 160));
        assert_eq!(Plan::new(500, 64, 36).tiles, 1);
    }

    #[test]
    fn cues_cover_the_video_without_gaps_and_point_at_their_tile() {
        let p = Plan::new(102_500, 1280, 720);
        let vtt = p.webvtt(sheet_name);
        let cues: Vec<&str> = vtt
            .split("\n\n")
            .skip(1)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cues.len(), 103);
        assert_eq!(
            cues[0],
            "00:00:00.000 --> 00:00:01.000\nstoryboard-0.jpg#xywh=0,0,160,90"
        );
        assert_eq!(
            cues[11],
            "00:00:11.000 --> 00:00:12.000\nstoryboard-0.jpg#xywh=160,90,160,90"
        );
        assert_eq!(
            cues[100],
            "00:01:40.000 --> 00:01:41.000\nstoryboard-1.jpg#xywh=0,0,160,90"
        );
        assert_eq!(
            cues[102],
            "00:01:42.000 --> 00:01:42.500\nstoryboard-1.jpg#xywh=320,0,160,90"
        );
        assert_eq!(p.sheets(), 2);
    }
}
