//! The Postgres repository shared by the api (uploads, status) and the activities (metadata updates).
//! Queries are checked at run time (`sqlx::query_as`), so building needs no database.

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{Config, Result};

pub mod backfill;
mod notifications;
mod outbox;
mod renditions;
mod run;
pub mod text_tracks;
mod unsettled;
pub mod upload_streams;
mod videos;

pub use notifications::*;
pub use outbox::*;
pub use renditions::*;
pub use run::*;
pub use unsettled::*;
pub use videos::*;

pub async fn connect(cfg: &Config) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(cfg.database_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&cfg.database_url)
        .await?)
}

/// A pool that connects on first use: a process can start (and report unreadiness) while the
/// database is down.
pub fn connect_lazy(cfg: &Config) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(cfg.database_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy(&cfg.database_url)?)
}

/// Applies `migrations/` (embedded at build time); already applied ones are skipped.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    sqlx::migrate!("../migrations").run(pool).await?;
    Ok(())
}
