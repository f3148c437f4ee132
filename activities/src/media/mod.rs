//! Everything FFmpeg: probing (ffprobe), the encode, audio and poster command lines, each run as a
//! contained child process, reading fragmented MP4 and writing HLS playlists.

pub mod audio;
pub mod encode;
pub mod ffmpeg_cli;
pub mod fmp4;
pub mod package;
pub mod poster;
pub mod probe;
pub mod source;
pub mod storyboard;

pub use vodflow_core::contain;
