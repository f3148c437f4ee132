//! Input and output of a `ReconcileWorkflow` pass.

use serde::{Deserialize, Serialize};

/// Input of `ReconcileWorkflow` (from the schedule's configuration, so the workflow stays
/// deterministic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconcile {
    /// Look at videos unchanged for this long.
    pub after_s: u64,
    /// Rows read per page; a pass goes through every page.
    pub limit: u32,
    /// Incomplete multipart uploads and source objects without a row older than this are
    /// removed (0: the default of a day).
    #[serde(default)]
    pub orphan_after_s: u64,
    /// Published outbox events older than this are purged (0: the default of a week).
    #[serde(default)]
    pub outbox_retention_s: u64,
}

/// What one reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconciled {
    pub checked: u32,
    /// Started again (no run, or a run that completed without recording its result).
    pub restarted: u32,
    /// Recorded as failed with the run's end (terminated, timed out, failed without a record).
    pub failed: u32,
    #[serde(default)]
    pub multipart_aborted: u32,
    #[serde(default)]
    pub orphans_removed: u32,
    #[serde(default)]
    pub outbox_purged: u64,
    /// Deleted videos whose objects were still there: their deletion was started again.
    #[serde(default)]
    pub deletions_restarted: u32,
    /// Resumable uploads past their expiry, aborted.
    #[serde(default)]
    pub uploads_expired: u32,
    /// Presigned uploads whose parts in the store held more than their maximum, aborted.
    #[serde(default)]
    pub uploads_overfull: u32,
}
