//! Prometheus metrics: every crate records through the `metrics` facade (a no-op until a
//! recorder is installed); with `SIGIL_METRICS_ADDR` set, this process installs
//! `metrics-exporter-prometheus`'s recorder and serves its text format on a second listener at
//! `/metrics` (with `/healthz` and `/readyz`, [`crate::health`]).
//!
//! Labels are bounded by construction: HTTP requests are labelled by the route *template*
//! (axum's `MatchedPath`, `unmatched` for anything no route matched), the method (one of the
//! standard ones, or `other`) and the status code, never by the raw path, a user id or an
//! address. Gauges of the database pool and the revocation feed are sampled at each scrape.
//! docs/operations.md lists every metric.

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sigil_guard::feed::FeedStatus;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Histogram buckets (seconds) of every `_seconds` metric: 1 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's global recorder (once: a second call, as
/// when tests build several apps in one process, returns the same handle, and the apps share
/// the counters).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(target: "sigil", "another metrics recorder is installed: /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        "sigil_http_requests_total",
        "HTTP requests answered, by method, route template and status code"
    );
    describe_histogram!(
        "sigil_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request (until the head of the answer), by method and route template"
    );
    describe_gauge!(
        "sigil_http_requests_in_flight",
        "HTTP requests being answered on the main listener"
    );
    describe_counter!(
        "sigil_sign_ins_total",
        "Email and password sign-ins, by outcome"
    );
    describe_counter!(
        "sigil_rate_limited_total",
        "Requests refused 429 by the identity service's rate limiter, by route template"
    );
    describe_gauge!(
        "sigil_password_hash_queue_depth",
        "Password hashes and verifications waiting for a hashing thread"
    );
    describe_histogram!(
        "sigil_password_hash_wait_seconds",
        Unit::Seconds,
        "Time a password hash or verification waited in the queue before a thread took it"
    );
    describe_counter!(
        "sigil_password_hash_refused_total",
        "Password hashing refused before any work (queue full, or the client's share in use)"
    );
    describe_counter!(
        "sigil_token_verifications_total",
        "Bearer JWT verifications by the guard, by outcome"
    );
    describe_counter!(
        "sigil_token_cache_lookups_total",
        "Lookups in the verified-token cache, by result (hit, miss)"
    );
    describe_counter!(
        "sigil_task_list_cache_lookups_total",
        "Lookups in the tasks API's per-user task-list cache, by result (hit, miss)"
    );
    describe_gauge!(
        "sigil_db_pool_connections",
        "Open connections of the database pool (sampled at scrape time)"
    );
    describe_gauge!(
        "sigil_db_pool_idle_connections",
        "Idle connections of the database pool (sampled at scrape time)"
    );
    describe_gauge!(
        "sigil_db_pool_max_connections",
        "Size limit of the database pool"
    );
    describe_gauge!(
        "sigil_revocation_feed_lag_seconds",
        Unit::Seconds,
        "Time since the last successful read of the revocation feed began (sampled at scrape time; absent before the first)"
    );
    describe_gauge!(
        "sigil_revocation_feed_failures",
        "Failed reads of the revocation feed since the process started"
    );
}

/// Counts and times each request by route template; add it with `Router::layer`, where
/// axum's `MatchedPath` is known.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route: metrics::SharedString = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_owned().into(),
        None => "unmatched".into(),
    };
    let method = method_label(request.method());
    let started = Instant::now();
    let in_flight = InFlight::start();
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "sigil_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "sigil_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// One request in `sigil_http_requests_in_flight`, until dropped (answered, or abandoned by
/// its client).
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        metrics::gauge!("sigil_http_requests_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("sigil_http_requests_in_flight").decrement(1.0);
    }
}

/// The method as a label: the standard ones, `other` for the rest (a client may send any token).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// What is sampled at each scrape.
#[derive(Clone, Debug)]
pub struct Sampler {
    pool: sqlx::AnyPool,
    feed: Option<Arc<FeedStatus>>,
}

impl Sampler {
    /// Samples `pool` and, when this process follows one, the revocation feed.
    pub fn new(pool: sqlx::AnyPool, feed: Option<Arc<FeedStatus>>) -> Sampler {
        Sampler { pool, feed }
    }

    fn sample(&self) {
        metrics::gauge!("sigil_db_pool_connections").set(f64::from(self.pool.size()));
        metrics::gauge!("sigil_db_pool_idle_connections").set(self.pool.num_idle() as f64);
        metrics::gauge!("sigil_db_pool_max_connections")
            .set(f64::from(self.pool.options().get_max_connections()));
        if let Some(feed) = &self.feed {
            if let Some(lag) = feed.lag() {
                metrics::gauge!("sigil_revocation_feed_lag_seconds").set(lag.as_secs_f64());
            }
            metrics::gauge!("sigil_revocation_feed_failures").set(feed.failures() as f64);
        }
    }
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    sampler: Sampler,
}

/// The metrics listener's routes: `/metrics`, `/healthz`, `/readyz`.
pub fn router(handle: PrometheusHandle, sampler: Sampler, health: crate::health::Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(Scrape { handle, sampler })
        .merge(crate::health::router(health))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({ "code": "NOT_FOUND", "message": "Not found" })),
            )
        })
}

async fn metrics_text(State(scrape): State<Scrape>) -> Response {
    scrape.sampler.sample();
    let mut response = scrape.handle.render().into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Keeps the recorder's histograms drained (the exporter's own listener would do it; this
/// process serves the text itself).
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticker.tick().await;
            handle.run_upkeep();
        }
    })
}
