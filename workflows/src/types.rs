//! Every type of the contract between the starters, the workflows and the activities, each
//! defined beside its workflow (`video_processing/types.rs`, …) and gathered here for the crates
//! that implement or read them.

pub use crate::delete_video::types::*;
pub use crate::reconcile::types::*;
pub use crate::video_downloads::types::*;
pub use crate::video_processing::types::*;
pub use crate::webhook_delivery::types::*;
pub use vodflow_core::segment::{Segment, SegmentTiming};
