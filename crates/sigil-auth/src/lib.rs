//! Sigil's identity service: email + password accounts, sessions, JWT issuance, password reset and
//! email verification, answered over the Better Auth HTTP protocol so that the official
//! `better-auth` client works against it unchanged.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | settings and their defaults |
//! | [`accounts`] | the account rules (sign-up, sign-in, passwords, profile, deletion), no HTTP |
//! | [`admin`] | user administration (list, create, roles, bans, sessions, removal), no HTTP |
//! | [`audit`] | the audit log of security events (table and `sigil::audit` log lines) |
//! | [`domain`] | parsed values: [`domain::Email`], [`domain::Password`], timestamps |
//! | [`password`] | argon2id hashing off the runtime with bounded concurrency |
//! | [`store`] | the storage trait and its SQLite/PostgreSQL implementation |
//! | [`session`] | session creation, sliding expiry, ending sessions everywhere |
//! | [`cookies`] | Better Auth's signed cookies |
//! | [`jwt`] | signing keys, access-token claims, the JWKS document |
//! | [`refresh`] | rotating refresh tokens with reuse detection |
//! | [`revocation`] | announcing ended sessions to every instance (database, Redis) |
//! | [`ratelimit`] | request rate limits (memory or Redis) |
//! | [`throttle`] | per-account sign-in throttling (a growing delay that strangers cannot impose on the owner) |
//! | [`mail`] | outgoing mail |
//! | [`social`] | social and OpenID Connect sign-in, provider accounts and linking, no HTTP |
//! | [`social_config`] | the social providers file and the presets' constants |
//! | [`passkey`] | WebAuthn passkeys: registration, sign-in, list, rename, delete (no HTTP) |
//! | [`totp`] | RFC 6238 one-time codes and `otpauth://` URIs (pure) |
//! | [`two_factor`] | second factors: TOTP, backup codes, emailed codes, trusted devices, the sign-in challenge |
//! | [`http`] | the `/api/auth/*` routes and their defences |
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod config;
pub mod cookies;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod jwt;
pub mod keys;
pub mod mail;
pub mod passkey;
pub mod password;
pub mod ratelimit;
pub mod refresh;
pub mod revocation;
pub mod session;
pub mod social;
pub mod social_config;
pub mod store;
pub mod throttle;
pub mod totp;
pub mod two_factor;

pub use config::{AuthConfig, Secret};
pub use http::{AccountListener, AuthService, Components, redact_path};
