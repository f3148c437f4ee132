//! The end-to-end tests, one module per step of the flow, in one binary: one link of the
//! workspace instead of one per file, and one pool of test threads for all of them. Tests that
//! move the machine itself (restart the stack's services, fill the disk) are binaries of their
//! own beside this one (`tests/faults.rs`, `tests/disk.rs`), so they never run next to these.

#[path = "../common/mod.rs"]
mod common;

mod audio_parts;
mod audio_tracks;
mod auth;
mod backfill;
mod bridge;
mod chapters;
mod compose;
mod corpus;
mod dash;
mod delete;
mod deploy;
mod downloads;
mod embed;
mod hostile;
mod images;
mod import;
mod import_limits;
mod kills;
mod limits;
mod long_source;
mod loudness;
mod mail;
mod notify;
mod observability;
mod playable;
mod playback;
mod player;
mod processing;
mod processing_view;
mod reconcile;
mod reprocess;
mod stack;
mod status;
mod storyboard;
mod text_tracks;
mod upload;
mod upload_direct;
mod upload_presigned;
mod upload_tus;
mod web;
mod webhooks;
mod workflow_histories;
