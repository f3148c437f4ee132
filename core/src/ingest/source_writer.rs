//! A video source arriving in pieces (an upload's body, an import's download): checked against
//! the size limit, sniffed at its first bytes before anything is stored, and cut into the
//! parts of a streaming multipart upload. One part (plus a piece) is in memory.

use aws_sdk_s3::Client;

use super::{MultipartSink, PartStore, S3PartStore, part_buffers};
use crate::container;
use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SourceWriteError {
    #[error("larger than the maximum of {max} bytes")]
    TooLarge { max: u64 },
    /// The first bytes are not an accepted container (nothing was stored).
    #[error("{0}")]
    NotAVideo(String),
    #[error("empty")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSource {
    pub size: u64,
    pub content_type: &'static str,
}

pub struct SourceWriter<S: PartStore = S3PartStore> {
    store: S,
    max: u64,
    part_size: usize,
    size: u64,
    /// The part being filled: never more than `part_size` bytes, so it never reallocates.
    part: Vec<u8>,
    /// Started once the first bytes are sniffed; dropped unfinished, it aborts in the store.
    sink: Option<MultipartSink<S>>,
    content_type: &'static str,
}

impl SourceWriter {
    /// A source stored at `key` of `bucket`.
    pub fn new(s3: &Client, bucket: &str, key: &str, max: u64, part_size: usize) -> Self {
        Self::over(S3PartStore::new(s3, bucket, key), max, part_size)
    }
}

impl<S: PartStore> SourceWriter<S> {
    /// A source of at most `max` bytes stored through `store` in parts of `part_size`.
    pub fn over(store: S, max: u64, part_size: usize) -> Self {
        Self {
            store,
            max,
            part_size,
            size: 0,
            part: part_buffers::take(part_size),
            sink: None,
            content_type: "",
        }
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), SourceWriteError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(SourceWriteError::TooLarge { max: self.max });
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            let take = rest.len().min(self.part_size - self.part.len());
            self.part.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.sink.is_none() && self.part.len() >= container::SNIFF_BYTES {
                self.start(false).await?;
            }
            if self.part.len() == self.part_size {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// The whole source is in: the last part, and the store's completion.
    pub async fn finish(mut self) -> Result<StoredSource, SourceWriteError> {
        if self.sink.is_none() {
            if self.part.is_empty() {
                return Err(SourceWriteError::Empty);
            }
            // A file shorter than the sniffing window: all of it decides.
            self.start(true).await?;
        }
        if !self.part.is_empty() {
            self.flush().await?;
        }
        if let Some(sink) = self.sink.take() {
            sink.finish().await?;
        }
        Ok(StoredSource {
            size: self.size,
            content_type: self.content_type,
        })
    }

    /// Gives up: the parts stored so far are aborted (and awaited).
    pub async fn abort(mut self) {
        if let Some(sink) = self.sink.take() {
            sink.abort().await;
        }
    }

    /// The first bytes decide before anything is stored.
    async fn start(&mut self, complete: bool) -> Result<(), SourceWriteError> {
        let head = &self.part[..self.part.len().min(container::SNIFF_BYTES)];
        self.content_type = container::sniff(head, complete)
            .map_err(|e| SourceWriteError::NotAVideo(e.to_string()))?
            .mime();
        self.sink = Some(MultipartSink::start(self.store.clone(), self.content_type).await?);
        Ok(())
    }

    /// Sends the part filled so far (the sink is started: a part is larger than the sniffing
    /// window).
    async fn flush(&mut self) -> Result<(), SourceWriteError> {
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        let full = std::mem::replace(&mut self.part, part_buffers::take(self.part_size));
        sink.push(part_buffers::freeze(full)).await?;
        Ok(())
    }
}

impl<S: PartStore> Drop for SourceWriter<S> {
    fn drop(&mut self) {
        part_buffers::give_back(std::mem::take(&mut self.part));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::uploads::Part;

    /// What a store would hold: open uploads with their parts, completed objects, aborts.
    #[derive(Default)]
    struct Held {
        open: BTreeMap<String, BTreeMap<i32, Bytes>>,
        object: Option<(Vec<u8>, Vec<usize>)>,
        aborted: usize,
        next_id: usize,
    }

    /// The part store over memory: the engine's contract without a server.
    #[derive(Clone, Default)]
    struct MemoryParts(Arc<Mutex<Held>>);

    impl PartStore for MemoryParts {
        fn key(&self) -> &str {
            "memory"
        }

        async fn create(&self, _: Option<&str>) -> Result<String, StoreError> {
            let mut h = self.0.lock().unwrap();
            h.next_id += 1;
            let id = format!("upload-{}", h.next_id);
            h.open.insert(id.clone(), BTreeMap::new());
            Ok(id)
        }

        async fn upload_part(
            &self,
            id: &str,
            number: i32,
            data: Bytes,
        ) -> Result<Part, StoreError> {
            let mut h = self.0.lock().unwrap();
            let size = data.len() as i64;
            h.open
                .get_mut(id)
                .ok_or_else(|| StoreError("NoSuchUpload".into()))?
                .insert(number, data);
            Ok(Part {
                number,
                etag: format!("\"{number}\""),
                size,
            })
        }

        async fn list_parts(&self, id: &str) -> Result<Vec<Part>, StoreError> {
            let h = self.0.lock().unwrap();
            let parts = h
                .open
                .get(id)
                .ok_or_else(|| StoreError("NoSuchUpload".into()))?;
            Ok(parts
                .iter()
                .map(|(n, d)| Part {
                    number: *n,
                    etag: format!("\"{n}\""),
                    size: d.len() as i64,
                })
                .collect())
        }

        async fn presign_part(
            &self,
            id: &str,
            number: i32,
            _: Option<i64>,
            _: Duration,
        ) -> Result<String, StoreError> {
            Ok(format!("memory://{id}/{number}"))
        }

        async fn complete(&self, id: &str, parts: &[Part]) -> Result<(), StoreError> {
            let mut h = self.0.lock().unwrap();
            let stored = h
                .open
                .remove(id)
                .ok_or_else(|| StoreError("NoSuchUpload".into()))?;
            let mut object = Vec::new();
            let mut sizes = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(
                    p.number,
                    i as i32 + 1,
                    "parts complete in order, none missing"
                );
                let data = &stored[&p.number];
                object.extend_from_slice(data);
                sizes.push(data.len());
            }
            assert_eq!(stored.len(), parts.len(), "no stored part left out");
            h.object = Some((object, sizes));
            Ok(())
        }

        async fn abort(&self, id: &str) -> Result<(), StoreError> {
            let mut h = self.0.lock().unwrap();
            h.open.remove(id);
            h.aborted += 1;
            Ok(())
        }
    }

    const PART: usize = 256 * 1024;

    fn mp4(len: usize) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x18];
        v.extend_from_slice(b"ftypisom\0\0\0\0isomavc1");
        v.extend_from_slice(&[0, 0, 0, 8]);
        v.extend_from_slice(b"free");
        v.extend_from_slice(&[0, 0, 0x10, 0]);
        v.extend_from_slice(b"mdat");
        v.extend((0..len.saturating_sub(v.len())).map(|i| (i * 7 % 251) as u8));
        v
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// However the bytes arrive, the stored object is exactly them, cut into parts of exactly
        /// the part size but the last.
        #[test]
        fn any_split_stores_the_bytes_in_exact_parts(
            len in (SNIFF_MIN..4 * PART + 3),
            cuts in proptest::collection::vec(1usize..PART + 17, 1..40),
        ) {
            let data = mp4(len);
            let store = MemoryParts::default();
            runtime().block_on(async {
                let mut w = SourceWriter::over(store.clone(), len as u64, PART);
                let mut at = 0;
                for c in cuts.iter().cycle() {
                    if at == data.len() {
                        break;
                    }
                    let end = (at + c).min(data.len());
                    w.push(&data[at..end]).await.unwrap();
                    at = end;
                }
                let stored = w.finish().await.unwrap();
                assert_eq!(stored.size, len as u64);
                assert_eq!(stored.content_type, "video/mp4");
            });
            let h = store.0.lock().unwrap();
            let (object, sizes) = h.object.clone().unwrap();
            prop_assert!(object == data);
            prop_assert!(sizes[..sizes.len() - 1].iter().all(|&s| s == PART), "{sizes:?}");
            prop_assert!(*sizes.last().unwrap() <= PART);
            prop_assert_eq!(h.aborted, 0);
            prop_assert!(h.open.is_empty());
        }
    }

    /// Smallest stream the property tests send: long enough to be sniffed as a whole file.
    const SNIFF_MIN: usize = 64;

    #[test]
    fn a_source_over_its_maximum_leaves_nothing_in_the_store() {
        let store = MemoryParts::default();
        runtime().block_on(async {
            let mut w = SourceWriter::over(store.clone(), 3 * PART as u64, PART);
            let data = mp4(3 * PART + 1);
            // Two parts are in the store when the byte past the maximum arrives.
            w.push(&data[..2 * PART + 10]).await.unwrap();
            let err = w.push(&data[2 * PART + 10..]).await.unwrap_err();
            assert!(matches!(err, SourceWriteError::TooLarge { .. }), "{err}");
            w.abort().await;
        });
        let h = store.0.lock().unwrap();
        assert_eq!(h.aborted, 1);
        assert!(h.open.is_empty() && h.object.is_none());
    }

    #[test]
    fn what_is_not_a_video_never_reaches_the_store() {
        let store = MemoryParts::default();
        runtime().block_on(async {
            let mut w = SourceWriter::over(store.clone(), u64::MAX, PART);
            let err = w.push(&[b'<'; 2 * PART]).await.unwrap_err();
            assert!(matches!(err, SourceWriteError::NotAVideo(_)), "{err}");
        });
        let h = store.0.lock().unwrap();
        assert_eq!(h.next_id, 0, "no upload was even opened");
    }

    #[test]
    fn a_writer_dropped_mid_stream_aborts_its_upload() {
        let store = MemoryParts::default();
        runtime().block_on(async {
            let mut w = SourceWriter::over(store.clone(), u64::MAX, PART);
            w.push(&mp4(2 * PART + 5)).await.unwrap();
            // The client went away: the request's future, and the writer with it, are dropped.
            drop(w);
            for _ in 0..100 {
                if store.0.lock().unwrap().aborted == 1 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        });
        let h = store.0.lock().unwrap();
        assert_eq!(h.aborted, 1);
        assert!(h.open.is_empty() && h.object.is_none());
    }
}
