//! Shared helpers for the example binaries.

pub mod common;
