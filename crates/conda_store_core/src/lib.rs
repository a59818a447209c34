//! Domain types and settings of conda-store.
//!
//! This crate does no IO: callers read files and environment variables and hand the
//! text to it. Everything here can be unit-tested without a database or a network.

pub mod authorization;
pub mod build_key;
pub mod canonical;
pub mod domain;
pub mod field_text;
pub mod lockfile_specification;
pub mod login;
pub mod paths;
pub mod pip_entry;
pub mod redaction;
pub mod settings;
pub mod specification;
pub mod token;
pub mod url_policy;

/// The version of this conda-store implementation, as reported by `GET /api/v1/`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
