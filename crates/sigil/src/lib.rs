//! The `sigil` binary's library: command line, settings, wiring and the web UI.
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | which command takes which settings group, turned into [`settings::Settings`] |
//! | [`settings`] | the settings groups (each the definition of its flags, environment variables and defaults), their checks, and the secret file |
//! | [`ops`] | operator commands on the database: `sigil users`, `sigil sessions`, `sigil audit` |
//! | [`app`] | building the router for `serve`, `serve-auth` or `serve-api`, and running it |
//! | [`openapi`] | the OpenAPI 3.1 document (`GET /api/openapi.json`, `sigil openapi`) |
//! | [`health`] | `/healthz`, `/readyz`, request ids |
//! | [`prometheus`] | the metrics recorder, the HTTP metrics layer and the metrics listener |
//! | [`serve`] | the accept loop: header, body and keep-alive timeouts, the connection cap |
//! | [`telemetry`] | logging |
//! | [`ui`] | the web pages |
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod health;
pub mod openapi;
pub mod ops;
pub mod prometheus;
pub mod serve;
pub mod settings;
pub mod telemetry;
pub mod ui;
