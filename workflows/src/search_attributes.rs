//! The custom search attributes of vodflow's workflows, as the Temporal UI filters on them. The
//! server must know them (`scripts/stack` registers them on the dev server).

use temporalio_common::search_attributes::SearchAttributeKey;

pub const VIDEO_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("VideoId");
pub const OWNER_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("OwnerId");
/// `queued` at start, then the video's status as the run moves it (`processing`, `ready`, ...).
pub const VIDEO_STATUS: SearchAttributeKey<String> = SearchAttributeKey::keyword("VideoStatus");
