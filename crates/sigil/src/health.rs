//! Health and lifecycle for load balancers and orchestrators:
//!
//! - `GET /healthz`: the process is up and answering (`200 {"status":"ok"}`), nothing else
//!   checked (a liveness probe);
//! - `GET /readyz`: the process can serve (`200 {"status":"ok"}`): not shutting down, the
//!   database answers a query within `SIGIL_DB_TIMEOUT`, verification keys are loaded (for
//!   `serve-api` with `SIGIL_JWKS_URL`: the key set has been fetched) and, when this process
//!   follows the database revocation feed, the feed is current. Otherwise
//!   `503 {"status":"unavailable"|"draining","reason":…,"code":"NOT_READY","message":…}`;
//! - request ids: an incoming `x-request-id` is kept when it is 1 to 128 visible ASCII
//!   characters, otherwise replaced by a new UUID; it is echoed in the answer and recorded in
//!   the request's log span, so every log line of the request carries it.
//!
//! Both endpoints are on the main listener of every serve mode and on the metrics listener
//! ([`crate::prometheus`]).

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode};
use sigil_guard::Guard;
use sigil_guard::feed::FeedStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The request id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What `/readyz` checks. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Health(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    draining: AtomicBool,
    pool: sqlx::AnyPool,
    db_timeout: Duration,
    /// The guard of `serve-api` (its keys may come from a remote JWKS); `None` for the identity
    /// service, whose signing and verifying keys are loaded before it listens.
    guard: Option<Guard>,
    feed: Option<Arc<FeedStatus>>,
}

/// Why the process is not ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReady {
    /// Shutting down.
    Draining,
    /// The database does not answer.
    Database,
    /// No verification keys.
    Keys,
    /// The revocation feed is behind.
    RevocationFeed,
}

impl NotReady {
    fn reason(self) -> &'static str {
        match self {
            NotReady::Draining => "draining",
            NotReady::Database => "database",
            NotReady::Keys => "keys",
            NotReady::RevocationFeed => "revocation_feed",
        }
    }

    fn message(self) -> &'static str {
        match self {
            NotReady::Draining => "The process is shutting down",
            NotReady::Database => "The database does not answer",
            NotReady::Keys => "No verification keys are loaded",
            NotReady::RevocationFeed => "The revocation feed is behind",
        }
    }
}

impl Health {
    /// Readiness of a process on `pool`.
    pub fn new(
        pool: sqlx::AnyPool,
        db_timeout: Duration,
        guard: Option<Guard>,
        feed: Option<Arc<FeedStatus>>,
    ) -> Health {
        Health(Arc::new(Inner {
            draining: AtomicBool::new(false),
            pool,
            db_timeout,
            guard,
            feed,
        }))
    }

    /// Marks the process as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the process is shutting down.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Relaxed)
    }

    /// Runs the readiness checks.
    pub async fn check(&self) -> Result<(), NotReady> {
        if self.is_draining() {
            return Err(NotReady::Draining);
        }
        let query = sqlx::query("SELECT 1").fetch_one(&self.0.pool);
        match tokio::time::timeout(self.0.db_timeout, query).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(target: "sigil", %error, "readiness: the database does not answer");
                return Err(NotReady::Database);
            }
            Err(_) => {
                tracing::warn!(target: "sigil", "readiness: the database did not answer in time");
                return Err(NotReady::Database);
            }
        }
        if let Some(remote) = self.0.guard.as_ref().and_then(Guard::remote_jwks)
            && remote.kids().is_empty()
        {
            return Err(NotReady::Keys);
        }
        if let Some(feed) = &self.0.feed
            && !feed.is_fresh()
        {
            return Err(NotReady::RevocationFeed);
        }
        Ok(())
    }
}

/// The body of `/healthz`, and of `/readyz` when ready: `{"status": "ok"}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthBody {
    /// `ok`.
    pub status: String,
}

/// The body of `/readyz` when not ready (with the `{code, message}` of every refusal).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotReadyBody {
    /// `draining` or `unavailable`.
    pub status: String,
    /// `draining`, `database`, `keys` or `revocation_feed`.
    pub reason: String,
    /// `NOT_READY`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// The `/healthz` and `/readyz` routes as one `utoipa_axum` route list: what [`router`] serves
/// and what [`openapi`] describes.
fn routes() -> OpenApiRouter<Health> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The OpenAPI description of `/healthz` and `/readyz` (see [`crate::openapi`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The `/healthz` and `/readyz` routes.
pub fn router(health: Health) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(health)
}

/// `GET /healthz`: liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthBody))
)]
async fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: readiness.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "Not ready: draining, or the database, the keys or the revocation feed", body = NotReadyBody)
    )
)]
async fn readyz(State(health): State<Health>) -> Response {
    match health.check().await {
        Ok(()) => json(StatusCode::OK, serde_json::json!({ "status": "ok" })),
        Err(why) => {
            let status = if why == NotReady::Draining {
                "draining"
            } else {
                "unavailable"
            };
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({
                    "status": status,
                    "reason": why.reason(),
                    "code": "NOT_READY",
                    "message": why.message(),
                }),
            )
        }
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// Whether a client's request id is kept: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters
/// (no spaces or control characters, so a log line cannot be forged through it).
pub fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// Drops an unacceptable (or repeated) `x-request-id` so that a new one is generated.
pub async fn screen_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(&REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (Some(value), None) => acceptable_request_id(value),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    request
}

/// Request ids for requests that come without a sound one: UUID-shaped (RFC 9562 version 8, a
/// layout of Sigil's own), 60 bits drawn at random once per process, then a 62-bit counter. Unique
/// within a process by construction and across processes with overwhelming probability, and
/// cheap: no random draw (a system call) per request, as a version 4 UUID needs.
#[derive(Clone, Debug)]
pub struct RequestIds {
    prefix: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    /// A generator with a fresh random prefix.
    pub fn new() -> Result<RequestIds, sigil_guard::sigil_token::random::RandomError> {
        let mut bytes = [0; 8];
        sigil_guard::sigil_token::random::fill(&mut bytes)?;
        Ok(RequestIds {
            prefix: u64::from_be_bytes(bytes),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    /// The next id: `xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx` (`y` is 8 to b: the RFC 9562 variant).
    pub fn next_id(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let high = (self.prefix & !0xF000) | 0x8000;
        let low = (n & !(0b11 << 62)) | (0b10 << 62);
        let id = (u128::from(high) << 64) | u128::from(low);
        let mut text = [0u8; 36];
        let mut at = 0;
        for nibble in 0..32 {
            if matches!(nibble, 8 | 12 | 16 | 20) {
                text[at] = b'-';
                at += 1;
            }
            text[at] = b"0123456789abcdef"[(id >> (124 - 4 * nibble)) as usize & 0xF];
            at += 1;
        }
        // 36 ASCII hex digits and dashes: always a valid header value.
        HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(
        &mut self,
        _request: &http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        Some(tower_http::request_id::RequestId::new(self.next_id()))
    }
}

/// The request id of a request (after [`screen_request_id`] and the layer that sets one).
pub fn request_id(request: &Request) -> &str {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_visible_ascii() {
        for good in ["abc", "0f8e-11", &"x".repeat(MAX_REQUEST_ID_LEN), "a/b:c=d"] {
            assert!(
                acceptable_request_id(&HeaderValue::from_str(good).unwrap()),
                "{good}"
            );
        }
        for bad in [
            "",
            "has space",
            "tab\there",
            &"x".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            assert!(
                !acceptable_request_id(&HeaderValue::from_str(bad).unwrap()),
                "{bad:?}"
            );
        }
        let high = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        assert!(!acceptable_request_id(&high));
    }

    /// Generated ids are UUID-shaped (version 8, the RFC 9562 variant), acceptable as request ids,
    /// all different within a process and different between two processes' generators.
    #[test]
    fn generated_request_ids_are_distinct_version_8_uuids() {
        let ids = RequestIds::new().unwrap();
        let other = RequestIds::new().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next_id();
            let text = id.to_str().unwrap().to_owned();
            let parts: Vec<&str> = text.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{text}"
            );
            assert!(
                text.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
                "{text}"
            );
            assert!(parts[2].starts_with('8'), "version 8: {text}");
            assert!(
                matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
                "variant: {text}"
            );
            assert!(acceptable_request_id(&id));
            assert!(seen.insert(text), "an id came twice");
        }
        assert!(!seen.contains(other.next_id().to_str().unwrap()));
    }
}
