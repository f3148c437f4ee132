//! The source: imported from a URL (its own queue and slots), held in each worker's cache, and
//! its digest recorded from the worker's copy.

pub(crate) mod cache;
pub(crate) mod digest;
pub(crate) mod import;

pub use import::ImportActivities;
