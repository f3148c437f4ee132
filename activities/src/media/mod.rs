//! Everything FFmpeg: probing (ffmpeg-next), the encode, audio and poster command lines, reading
//! fragmented MP4 and writing HLS playlists.

pub mod audio;
pub mod encode;
pub mod ffmpeg_cli;
pub mod fmp4;
pub mod package;
pub mod poster;
pub mod probe;
