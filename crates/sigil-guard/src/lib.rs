//! What a resource server needs to know who is calling: a strict `Authorization: Bearer <jwt>`
//! guard for axum/tower.
//!
//! * [`bearer`] takes the credential from the one `Authorization` header (never from the query
//!   string or a cookie);
//! * [`Guard`] verifies it with a shared secret, a static JWKS or a remote JWKS URL that is
//!   cached, refreshed in the background and refetched (at most once per 30 s) on an unknown
//!   `kid`; hot tokens are answered from a bounded verified-token cache;
//! * [`AuthUser`] is the extractor handlers take; [`require_path_user`] is the route layer that
//!   answers 403 before the handler runs when the `{user_id}` path segment is not the token's
//!   `sub`;
//! * [`feed`] keeps a [`SessionDenyList`] in step with the sessions the identity service ended
//!   (Redis and database followers, behind the `feed-redis` and `feed-sql` features);
//! * [`AuthRejection`] answers RFC 6750-style: 401 with `WWW-Authenticate: Bearer realm=...`
//!   (plus `error="invalid_token"` when a token was presented), 403 for another user's route.
//!
//! ```no_run
//! use axum::{Router, routing::get, middleware};
//! use sigil_guard::{AuthUser, Guard, GuardConfig, require_path_user};
//!
//! async fn tasks(user: AuthUser) -> String {
//!     format!("tasks of {}", user.user_id)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = Guard::from_config(GuardConfig::from_env()?).await?;
//! let app = Router::new()
//!     .route("/api/{user_id}/tasks", get(tasks))
//!     .route_layer(middleware::from_fn_with_state(guard.clone(), require_path_user))
//!     .with_state(guard);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod bearer;
pub mod clock;
mod config;
mod denylist;
mod error;
mod extract;
pub mod feed;
mod guard;
mod rejection;
mod remote;
mod snapshot;
mod user;

pub use config::{ConfigError, GuardConfig, KeyConfig};
pub use denylist::SessionDenyList;
pub use error::GuardError;
pub use extract::require_path_user;
pub use guard::{Guard, KEY_RELOAD_INTERVAL, KeySource, RevocationCheck};
pub use rejection::AuthRejection;
pub use remote::{FetchError, RemoteJwks, RemoteJwksOptions};
pub use sigil_token;
pub use snapshot::DEFAULT_CACHE_CAPACITY;
pub use user::AuthUser;
