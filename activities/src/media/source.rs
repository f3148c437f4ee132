//! A downloaded source and the container its own bytes say it is. Every ffmpeg and ffprobe child
//! reads the source through [`SourceMedia::input_args`]: the demuxer is forced to that container
//! and only the `file` protocol is allowed, so a manifest, a playlist or a concat list can never
//! make libav open another file, even if such a file were stored.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;
use vodflow_core::container::{self, Container};

use crate::error::{Error, Result};
use crate::source::cache::HeldSource;

pub struct SourceMedia {
    pub path: PathBuf,
    pub container: Container,
    /// Keeps the cached file from being evicted while libav reads it.
    _held: HeldSource,
}

impl SourceMedia {
    /// Sniffs the file again on this worker: the api's decision is not taken on trust.
    pub async fn open(held: HeldSource) -> Result<Self> {
        let path = held.path.clone();
        let mut file = tokio::fs::File::open(&path).await?;
        let mut head = Vec::with_capacity(container::SNIFF_BYTES);
        (&mut file)
            .take(container::SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .await?;
        let complete = head.len() < container::SNIFF_BYTES;
        let container = container::sniff(&head, complete)
            .map_err(|e| Error::InvalidMedia(format!("the source is refused: {e}")))?;
        Ok(Self {
            path,
            container,
            _held: held,
        })
    }

    /// MPEG-TS and MPEG-PS carry no index: a seek lands wherever the timestamps say, often between
    /// keyframes, and with a long GOP decodes nothing of the range asked for.
    pub fn lacks_index(&self) -> bool {
        matches!(self.container, Container::MpegTs | Container::MpegPs)
    }

    /// The same media read from another file (a copy of the source in `container`), still
    /// holding the cached source.
    pub fn read_from(self, path: PathBuf, container: Container) -> Self {
        Self {
            path,
            container,
            _held: self._held,
        }
    }

    /// `-f <demuxer> -protocol_whitelist file -i file:<path>`, preceded by `before_input`
    /// (input options such as `-ss`).
    pub fn input_args(&self, before_input: &[String]) -> Vec<String> {
        let mut args = vec![
            "-f".to_owned(),
            self.container.demuxer().to_owned(),
            "-protocol_whitelist".to_owned(),
            "file".to_owned(),
        ];
        args.extend_from_slice(before_input);
        args.push("-i".to_owned());
        args.push(file_url(&self.path));
        args
    }
}

/// A path as an explicit `file:` URL, so no part of it can be read as another protocol.
pub fn file_url(path: &Path) -> String {
    format!("file:{}", path.display())
}
