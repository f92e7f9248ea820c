//! Build plumbing, no code: this crate's dependencies pin features so that `cargo build`,
//! `cargo run`, `cargo doc` and maturin reuse the dependencies `cargo test --workspace` compiled.
//! See its `Cargo.toml`.
#![forbid(unsafe_code)]
