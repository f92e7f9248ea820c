//! sigil-auth's integration tests: one test binary whose modules run as parallel threads of one
//! process. Each test starts its own identity service on port 0 over a fresh SQLite database,
//! with its own in-memory mailer, password hasher and manual clock (`helpers`), so no test shares
//! state with another: none sets an environment variable or installs a global tracing
//! subscriber. Run one module with `cargo test -p sigil-auth --test api throttle::`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authenticator;
mod helpers;

mod defences;
mod hardening;
mod passkey_two_factor;
mod passkeys;
mod recovery;
mod sessions;
mod smtp;
mod social;
mod throttle;
mod two_factor;
