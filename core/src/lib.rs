//! vodflow-core: what two or more vodflow crates share — ids, domain types, event schemas, workflow
//! inputs and outputs, configuration, the S3 key layout and the Postgres repository.
//!
//! It must know nothing of HTTP, Temporal workers or FFmpeg: those belong to the crates that own the
//! side effects. Kafka is the exception by design: every role builds its clients from [`kafka`], so
//! the broker's settings and the topic names live in one place.

pub mod audio_tracks;
pub mod backfill;
pub mod caching;
pub mod chapters;
pub mod config;
pub mod contain;
pub mod container;
pub mod dash;
pub mod downloads;
pub mod error;
pub mod events;
pub mod ids;
pub mod images;
pub mod ingest;
pub mod kafka;
pub mod ladder;
pub mod layout;
pub mod loudness;
pub mod metrics;
pub mod names;
pub mod net_guard;
pub mod playback;
pub mod repo;
pub mod segment;
pub mod status;
pub mod storage;
pub mod storyboard;
pub mod temporal;
pub mod text_tracks;
pub mod uploads;
pub mod webhooks;
pub mod work_dir;

pub use config::Config;
pub use error::{Error, Result};
pub use ids::VideoId;
pub use status::VideoStatus;
