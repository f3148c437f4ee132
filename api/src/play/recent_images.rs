//! The images this api made or read lately, kept in memory: a thumbnail under a seek bar or in a
//! grid is asked for again and again, and its store round trip is most of what such a request
//! costs. The store stays the truth (every replica and restart finds an image there): this keeps
//! copies of small ones, bounded in bytes, oldest out first. An image's key names its video's
//! generation, so a re-encode never meets a stale copy; a deleted video's copies are never served
//! (its row is read before the cache) and leave as newer images come in.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use poem::Response;
use poem::http::{StatusCode, header};

use super::object::Conditional;

/// An image larger than this is served from the store only (a big PNG is rare and not worth
/// keeping many others out for).
pub(crate) const MAX_KEPT_IMAGE: usize = 1 << 20;
/// Bytes of images one process keeps.
const KEPT_BYTES: usize = 64 << 20;

pub(crate) struct Image {
    pub(crate) bytes: Bytes,
    pub(crate) content_type: &'static str,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

impl Image {
    /// The image as an answer to a request without a range (a range goes to the store).
    pub(crate) fn respond(&self, cond: &Conditional, cache_control: &str, head: bool) -> Response {
        if let Some(tag) = &self.etag
            && cond.matches(tag)
        {
            return Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header(header::CACHE_CONTROL, cache_control)
                .header(header::ETAG, tag.as_str())
                .finish();
        }
        let mut b = Response::builder()
            .status(StatusCode::OK)
            .content_type(self.content_type)
            .header(header::CACHE_CONTROL, cache_control)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CONTENT_LENGTH, self.bytes.len());
        if let Some(tag) = &self.etag {
            b = b.header(header::ETAG, tag.as_str());
        }
        if let Some(modified) = &self.last_modified {
            b = b.header(header::LAST_MODIFIED, modified.as_str());
        }
        if head {
            b.finish()
        } else {
            b.body(self.bytes.clone())
        }
    }
}

#[derive(Default)]
struct Kept {
    by_key: HashMap<String, Arc<Image>>,
    order: VecDeque<String>,
    bytes: usize,
}

#[derive(Default)]
pub(crate) struct RecentImages {
    kept: Mutex<Kept>,
}

impl RecentImages {
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Image>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.by_key.get(key).cloned()
    }

    /// Keeps `image` under `key` (if small enough), making room by dropping the oldest.
    pub(crate) fn keep(&self, key: &str, image: Image) -> Arc<Image> {
        let image = Arc::new(image);
        let size = image.bytes.len();
        if size > MAX_KEPT_IMAGE {
            return image;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = kept.by_key.insert(key.to_owned(), image.clone()) {
            kept.bytes -= old.bytes.len();
            kept.order.retain(|k| k != key);
        }
        kept.order.push_back(key.to_owned());
        kept.bytes += size;
        while kept.bytes > KEPT_BYTES {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some(gone) = kept.by_key.remove(&oldest) {
                kept.bytes -= gone.bytes.len();
            }
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(n: usize) -> Image {
        Image {
            bytes: Bytes::from(vec![7u8; n]),
            content_type: "image/jpeg",
            etag: Some(format!("\"{n}\"")),
            last_modified: None,
        }
    }

    #[test]
    fn keeps_at_most_its_bytes_dropping_the_oldest_and_never_a_large_image() {
        let r = RecentImages::default();
        let each = MAX_KEPT_IMAGE;
        let n = KEPT_BYTES / each;
        for i in 0..n + 3 {
            r.keep(&format!("k{i}"), image(each));
        }
        let kept = r.kept.lock().unwrap();
        assert!(kept.bytes <= KEPT_BYTES);
        assert_eq!(kept.by_key.len(), n);
        assert_eq!(kept.order.len(), n);
        drop(kept);
        assert!(r.get("k0").is_none() && r.get("k2").is_none());
        assert!(r.get(&format!("k{}", n + 2)).is_some());
        r.keep("big", image(MAX_KEPT_IMAGE + 1));
        assert!(r.get("big").is_none());
        // Kept again under the same key: counted once.
        let before = r.kept.lock().unwrap().bytes;
        r.keep(&format!("k{}", n + 2), image(each));
        assert_eq!(r.kept.lock().unwrap().bytes, before);
    }
}
