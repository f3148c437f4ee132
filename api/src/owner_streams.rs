//! The per-owner limit on upload bodies streaming at once (`VODFLOW_MAX_UPLOADS_PER_OWNER`),
//! counted across every api replica in Postgres (`upload_streams`), so N replicas do not give an
//! owner N times the limit. What one replica can carry in total stays its own, in memory
//! ([`crate::limits::Slots`]). Each stream's row is leased and renewed while it runs here: a
//! replica that dies gives its owners' places back within [`LEASE`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;
use vodflow_core::repo::upload_streams;

use crate::problem::ApiError;

/// How long a stream's place outlives the replica that stopped renewing it.
pub(crate) const LEASE: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(20);

pub struct OwnerStreams {
    pool: PgPool,
    per_owner: i64,
    held: Mutex<HashSet<Uuid>>,
}

/// One owner's place, given back when dropped, however the request ends.
pub struct OwnerStream {
    streams: Arc<OwnerStreams>,
    id: Uuid,
}

impl OwnerStreams {
    /// Must be called inside the runtime: it starts the renewal of this replica's leases, which
    /// ends with the last reference.
    pub fn new(pool: PgPool, per_owner: usize) -> Arc<Self> {
        let streams = Arc::new(Self {
            pool,
            per_owner: i64::try_from(per_owner.max(1)).unwrap_or(i64::MAX),
            held: Mutex::default(),
        });
        let weak: Weak<Self> = Arc::downgrade(&streams);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let Some(streams) = weak.upgrade() else {
                    return;
                };
                let ids: Vec<Uuid> = streams.lock().iter().copied().collect();
                if let Err(e) = upload_streams::renew(&streams.pool, &ids, LEASE).await {
                    tracing::warn!(error = %e, streams = ids.len(), "upload stream leases not renewed");
                }
            }
        });
        streams
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for `owner`, or 429 naming the limit.
    pub async fn acquire(
        self: &Arc<Self>,
        owner: &str,
        retry_after: u64,
    ) -> Result<OwnerStream, ApiError> {
        match upload_streams::take(&self.pool, owner, self.per_owner, LEASE).await? {
            Ok(id) => {
                self.lock().insert(id);
                Ok(OwnerStream {
                    streams: self.clone(),
                    id,
                })
            }
            Err(held) => Err(ApiError::TooManyRequests {
                detail: format!(
                    "you already have {held} uploads in progress; the limit is {} per owner",
                    self.per_owner
                ),
                retry_after,
            }),
        }
    }
}

impl Drop for OwnerStream {
    fn drop(&mut self) {
        self.streams.lock().remove(&self.id);
        let (pool, id) = (self.streams.pool.clone(), self.id);
        // Not given back (no runtime, or the database away): the lease runs out instead.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = upload_streams::give_back(&pool, id).await {
                    tracing::warn!(error = %e, "upload stream place not given back; it expires");
                }
            });
        }
    }
}
