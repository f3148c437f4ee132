//! The end-to-end tests' harness: every test gets its own database, bucket, topic prefix and task
//! queues on the real local stack (`scripts/stack up`), so tests run in parallel and reruns never
//! collide. One module per thing a test drives; everything is re-exported here, so a test writes
//! `common::upload(…)` whatever module it lives in.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod browser;
pub mod edge;
pub mod env;
pub mod http;
pub mod kafka;
pub mod media;
pub mod platform;
pub mod presigned;
pub mod processes;
pub mod proxy;
pub mod receivers;
pub mod smtp;
pub mod temporal;
pub mod tus;

pub use env::*;
pub use http::*;
pub use kafka::*;
pub use platform::*;
pub use processes::*;
pub use receivers::*;
pub use temporal::*;
