//! The `sigil` package's integration tests: one test binary (one link) whose modules run as
//! parallel threads of one process. Each test starts its own server on port 0 with its own
//! database (a fresh SQLite file, or a fresh PostgreSQL database through
//! `sigil_test_support::FreshDatabase`), and its processes with a cleaned environment, so no test
//! shares state with another: none sets an environment variable or installs a global tracing
//! subscriber. Run one module with `cargo test -p sigil --test api flow::`.
//!
//! Two files stay binaries of their own, because they need a process to themselves:
//! `tests/faults.rs` (several `sigil serve` processes, PostgreSQL's connection budget and
//! latency bounds measured in wall-clock time) and `tests/slow_clients.rs` (it counts this
//! process's open descriptors and raises its open-file limit). Cargo runs test binaries one after
//! another, so each runs alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod admin;
mod api_guard;
mod binary;
mod db_shedding;
mod flow;
mod guard_example;
mod identity;
mod keys;
mod logs;
mod observability;
mod openapi;
mod postgres;
mod redis;
mod refresh;
mod startup_race;
mod strict_input;
mod ui;
