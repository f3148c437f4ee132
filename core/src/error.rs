use thiserror::Error;

/// Errors of the shared layer: configuration, the repository and the object store.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid configuration {name}: {reason}")]
    Config { name: &'static str, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid video id {0:?}: expected a UUID")]
    InvalidVideoId(String),
    #[error("temporal: {0}")]
    Temporal(String),
    #[error("unknown video status {0:?}")]
    InvalidStatus(String),
    #[error("{cap} imports are already in flight for this owner; wait for one to finish")]
    ImportsInFlight { cap: i64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
