//! What the workspace's integration tests share: an HTTP client and its decoded [`Answer`]s,
//! the external services a test may need ([`services`]: the `SIGIL_TEST_REQUIRE_SERVICES` rule
//! and a fresh PostgreSQL database per test), `sigil` processes started with a clean
//! environment ([`process`]), bounded polls ([`wait`]) and JWT inspection ([`jwt`]).
//!
//! A dev-dependency only: it knows no crate under test but sigil-token, so the dependency graph
//! stays one-way. How each crate starts its own server (the binary's `App`, the identity
//! service's router) lives in that crate's `tests/api/helpers.rs`, built on these pieces.
//!
//! Panicking is how a test fails, so the helpers unwrap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod http;
pub mod jwt;
pub mod process;
pub mod services;
pub mod wait;

pub use http::{Answer, client};
pub use services::{FreshDatabase, service_url};

/// The password the tests' users sign up with.
pub const PASSWORD: &str = "correct horse battery staple";
