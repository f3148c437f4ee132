use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// A video's identity. UUIDv7, so ids sort by creation time (index-friendly, cursor-friendly).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct VideoId(pub Uuid);

impl VideoId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The Temporal workflow id: the idempotency key of a video's processing.
    pub fn workflow_id(&self) -> String {
        format!("{}{}", crate::names::WORKFLOW_ID_PREFIX, self.0)
    }

    pub fn from_workflow_id(id: &str) -> Option<Self> {
        id.strip_prefix(crate::names::WORKFLOW_ID_PREFIX)?
            .parse()
            .ok()
    }
}

impl Default for VideoId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for VideoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for VideoId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| Error::InvalidVideoId(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_id_round_trips() {
        let id = VideoId::new();
        assert_eq!(id.workflow_id(), format!("video-{id}"));
        assert_eq!(VideoId::from_workflow_id(&id.workflow_id()), Some(id));
        assert_eq!(VideoId::from_workflow_id("other-123"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!("not-a-uuid".parse::<VideoId>().is_err());
    }
}
