//! sigil-token's integration tests, one test binary: the verification pipeline against hostile
//! tokens (`verify`) and the Wycheproof vectors (`wycheproof`). Pure functions, nothing shared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod verify;
mod wycheproof;
