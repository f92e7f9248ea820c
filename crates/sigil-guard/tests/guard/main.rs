//! sigil-guard's integration tests, one test binary: the guard in an axum router (`http`) and
//! the remote JWKS against a real HTTP server (`remote_jwks`). Each test builds its own guard,
//! server and manual clock; nothing is shared between them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http;
mod remote_jwks;
