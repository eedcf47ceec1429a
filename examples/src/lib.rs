//! Shared helpers for the example binaries.

pub mod common;

/// The Rust code blocks of the repository's README, compiled and run as doctests so that the
/// library example there cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
