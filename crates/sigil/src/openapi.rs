//! The OpenAPI 3.1 document of the HTTP API, generated from the code.
//!
//! Each part comes from the crate that serves it, built from the same `utoipa_axum` route list as
//! its router: the identity routes from [`sigil_auth::http::openapi::document`], the tasks routes
//! from [`sigil_tasks::openapi`], and the operational routes of this binary from `routes`. A
//! server describes what it serves: `serve` the whole API, `serve-auth` the identity and
//! operational routes, `serve-api` the tasks and operational routes; `sigil openapi` prints the
//! whole document (for client generation without a server). The web UI's HTML pages are not
//! part of the API and not described, nor is the metrics listener (another port, Prometheus text).

use crate::settings::Mode;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use std::sync::Arc;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the document is served.
pub const PATH: &str = "/api/openapi.json";

/// The JSON of a document, shared by the route that serves it.
#[derive(Clone, Debug)]
struct Document(Arc<String>);

/// `GET /api/openapi.json`: this server's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapiDocument",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server's API", content_type = "application/json", body = Object))
)]
async fn openapi_json(State(Document(json)): State<Document>) -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        json.as_str().to_owned(),
    )
        .into_response()
}

/// The operational routes of this binary, as one `utoipa_axum` route list.
fn routes() -> OpenApiRouter<Document> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document of what a server in `mode` serves.
pub fn document(mode: Mode) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Sigil")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Sigil's HTTP API: the identity service (Better Auth's protocol under \
                     /api/auth, with the admin, two-factor, passkey and social plugins) and the \
                     tasks API (/api/{user_id}/tasks, bearer JWT). Errors are JSON \
                     `{code, message}`.",
                ))
                .build(),
        )
        .build();
    let mut tags = Vec::new();
    if mode != Mode::ApiOnly {
        doc.merge(sigil_auth::http::openapi::document());
        tags.push(("identity", "Better Auth's routes: sign-up, sign-in, sessions, tokens, account, recovery, two-factor, passkeys, social sign-in"));
        tags.push(("admin", "Better Auth's admin plugin (an admin role needed)"));
    }
    if mode != Mode::AuthOnly {
        doc.merge(sigil_tasks::openapi());
        tags.push((
            "tasks",
            "The tasks API, guarded by a bearer JWT whose subject is the path's user",
        ));
    }
    doc.merge(routes().into_openapi());
    doc.merge(crate::health::openapi());
    tags.push((
        "operations",
        "Health probes (/healthz, /readyz) and this document",
    ));
    doc.tags = Some(
        tags.into_iter()
            .map(|(name, description)| {
                TagBuilder::new()
                    .name(name)
                    .description(Some(description))
                    .build()
            })
            .collect(),
    );
    doc
}

/// The document of what a server in `mode` serves, as pretty JSON.
pub fn json(mode: Mode) -> String {
    document(mode)
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The operational routes (`GET /api/openapi.json`, serving [`document`] for `mode`).
pub fn router(mode: Mode) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(Document(Arc::new(json(mode))))
}
