//! The `vodflow` package's library: what the binary and the end-to-end tests share, so that "every
//! role in one process" is written once.

pub mod platform;
