//! The tasks API: `/api/{user_id}/tasks`, the resource Sigil's guard protects.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/{user_id}/tasks?status=all\|pending\|completed` | list the user's tasks |
//! | `POST /api/{user_id}/tasks` `{title, description?}` | create (201) |
//! | `GET /api/{user_id}/tasks/{id}` | one task |
//! | `PUT /api/{user_id}/tasks/{id}` `{title, description?, completed?}` | replace |
//! | `DELETE /api/{user_id}/tasks/{id}` | delete (204) |
//! | `PATCH /api/{user_id}/tasks/{id}/complete` `{completed?}` | toggle, or set |
//!
//! Every route sits behind [`sigil_guard::require_path_user`]: no or a bad token is a 401, a
//! token for another user a 403 before any handler runs. The handlers take an `Owner` extractor
//! that makes the same check again, so a route without the layer cannot serve another user's
//! tasks either. Queries are always scoped to the owner, so another user's task id is a 404
//! (existence is not revealed).
#![forbid(unsafe_code)]

mod body;
pub mod cache;
mod error;
mod handlers;
mod owner;
mod store;
mod task;

pub use error::TaskError;
pub use store::{Admission, DEFAULT_MAX_WAITERS, Slot, StatusFilter, Task, TaskStore};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use sigil_guard::{Guard, require_path_user};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Name of the document's security scheme of the tasks routes: `Authorization: Bearer <JWT>`.
pub const BEARER_JWT: &str = "bearerJwt";

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Title length limits (characters).
pub const TITLE_MAX: usize = 200;
/// Description length limit (characters).
pub const DESCRIPTION_MAX: usize = 1000;

/// State shared by the handlers: one `Arc`, so the per-request clone axum makes of it is one
/// reference count, not one per part of the store.
#[derive(Clone, Debug)]
pub struct TasksState(Arc<TasksParts>);

/// What [`TasksState`] shares: the store and the guard.
#[derive(Debug)]
pub struct TasksParts {
    store: TaskStore,
    guard: Guard,
}

impl TasksState {
    fn new(store: TaskStore, guard: Guard) -> TasksState {
        TasksState(Arc::new(TasksParts { store, guard }))
    }
}

impl std::ops::Deref for TasksState {
    type Target = TasksParts;

    fn deref(&self) -> &TasksParts {
        &self.0
    }
}

impl axum::extract::FromRef<TasksState> for Guard {
    fn from_ref(state: &TasksState) -> Guard {
        state.guard.clone()
    }
}

/// The tasks routes as one `utoipa_axum` route list: what [`router`] serves and what
/// [`openapi`] describes.
fn routes() -> OpenApiRouter<TasksState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(
            handlers::get_one,
            handlers::replace,
            handlers::delete
        ))
        .routes(routes!(handlers::complete))
}

/// The OpenAPI 3.1 description of the tasks routes (no server needed), with the `bearerJwt`
/// security scheme.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().into_openapi();
    doc.components
        .get_or_insert_with(Default::default)
        .security_schemes
        .insert(
            BEARER_JWT.into(),
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of the identity service (`GET /api/auth/token`), \
                         whose `sub` is the path's `{user_id}`.",
                    ))
                    .build(),
            ),
        );
    doc
}

/// The tasks routes, guarded by `guard`.
pub fn router(store: TaskStore, guard: Guard) -> Router {
    let state = TasksState::new(store, guard.clone());
    let (routes, _) = routes().split_for_parts();
    routes
        .route_layer(middleware::from_fn_with_state(guard, require_path_user))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use sigil_guard::clock::{Clock, ManualClock};
    use sigil_guard::sigil_token::{
        Algorithm, Claims, KeySet, SigningKey, Validation, Verifier, sign,
    };

    const SECRET: &[u8] = b"tasks-unit-test-secret-0123456789abcdef";

    /// The routes with their handlers and no `require_path_user` layer: what a future route
    /// added without the layer would look like.
    fn router_without_layer(store: TaskStore, guard: Guard) -> Router {
        Router::new()
            .route(
                "/api/{user_id}/tasks",
                get(handlers::list).post(handlers::create),
            )
            .route("/api/{user_id}/tasks/{id}", get(handlers::get_one))
            .with_state(TasksState::new(store, guard))
    }

    /// One HTTP/1.1 exchange over a plain socket (`Connection: close`).
    async fn http(addr: std::net::SocketAddr, request: String) -> String {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_route_without_the_layer_still_serves_only_the_owner() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let clock = ManualClock::starting_now();
        let store = TaskStore::new(pool).with_clock(clock.shared());
        store.migrate().await.unwrap();
        let alice_task = store.create("alice", "alice's secret", "").await.unwrap();

        let key = SigningKey::hmac(Algorithm::HS256, SECRET, None).unwrap();
        let keys = KeySet::try_from(vec![key.verifying_key()]).unwrap();
        let guard = Guard::from_verifier(Verifier::new(keys, Validation::new("iss", "aud")))
            .with_clock(clock.shared());
        let now = clock.now_unix();
        let bob = sign(
            &key,
            &Claims::new("bob", now, now + 600)
                .with_issuer("iss")
                .with_audience("aud"),
        )
        .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router_without_layer(store, guard);
        tokio::spawn(async move { axum::serve(listener, app).await });

        let get = |path: String, token: &str| {
            format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
        };
        let list = http(addr, get("/api/alice/tasks".into(), &bob)).await;
        assert!(list.starts_with("HTTP/1.1 403"), "{list}");
        assert!(!list.contains("alice's secret"));
        let one = http(
            addr,
            get(format!("/api/alice/tasks/{}", alice_task.id), &bob),
        )
        .await;
        assert!(one.starts_with("HTTP/1.1 403"), "{one}");
        assert!(!one.contains("alice's secret"));
        let anonymous = http(
            addr,
            "GET /api/alice/tasks HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(),
        )
        .await;
        assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
        let own = http(addr, get("/api/bob/tasks".into(), &bob)).await;
        assert!(own.starts_with("HTTP/1.1 200"), "{own}");
        assert!(own.ends_with("[]"), "{own}");
    }
}
