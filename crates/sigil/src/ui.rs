//! The web pages served by `sigil serve` and `sigil serve-auth`.

use axum::Router;
use axum::response::Html;
use axum::routing::get;

/// The UI routes.
pub fn router() -> Router {
    Router::new().route("/", get(home))
}

async fn home() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sigil</title></head><body><main><h1>Sigil</h1><p>The identity service is at <code>/api/auth</code>; \
         the tasks API at <code>/api/{user_id}/tasks</code>.</p></main></body></html>",
    )
}
