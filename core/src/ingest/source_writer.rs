//! A video source arriving in pieces (an upload's body, an import's download): checked against
//! the size limit, sniffed at its first bytes before anything is stored, and cut into the
//! parts of a streaming multipart upload. One part (plus a piece) is in memory.

use aws_sdk_s3::Client;

use super::{MultipartSink, PartStore, part_buffers};
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

pub struct SourceWriter {
    store: PartStore,
    max: u64,
    part_size: usize,
    size: u64,
    /// The part being filled: never more than `part_size` bytes, so it never reallocates.
    part: Vec<u8>,
    /// Started once the first bytes are sniffed; dropped unfinished, it aborts in the store.
    sink: Option<MultipartSink>,
    content_type: &'static str,
}

impl SourceWriter {
    pub fn new(s3: &Client, bucket: &str, key: &str, max: u64, part_size: usize) -> Self {
        Self {
            store: PartStore {
                s3: s3.clone(),
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            },
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

impl Drop for SourceWriter {
    fn drop(&mut self) {
        part_buffers::give_back(std::mem::take(&mut self.part));
    }
}
