//! A complete small API protected by sigil-guard: `GET /api/{user_id}/hello` answers
//! `{"user_id": ..., "email": ...}` to the user the bearer token names, 403 to anyone else and
//! 401 without a valid token.
//!
//! It verifies tokens from a Sigil or Better Auth JWKS URL (or a shared HS256 secret), configured
//! from the environment:
//!
//! ```sh
//! SIGIL_JWKS_URL=http://127.0.0.1:8080/api/auth/jwks \
//!   cargo run -p sigil-guard --example hello_api
//! # listening on http://127.0.0.1:8000
//! curl -H "Authorization: Bearer $JWT" http://127.0.0.1:8000/api/$USER_ID/hello
//! ```
//!
//! `SIGIL_JWT_ISSUER` / `SIGIL_JWT_AUDIENCE` default to the JWKS URL's origin, which is what
//! Sigil and Better Auth put in `iss` and `aud`. `ADDR` sets the listen address (default
//! `127.0.0.1:8000`; `127.0.0.1:0` picks a free port).

use axum::{Json, Router, middleware, routing::get};
use serde_json::{Value, json};
use sigil_guard::{AuthUser, Guard, GuardConfig, require_path_user};

async fn hello(user: AuthUser) -> Json<Value> {
    Json(json!({ "user_id": user.user_id, "email": user.email }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = Guard::from_config(GuardConfig::from_env()?).await?;
    let app = Router::new()
        .route("/api/{user_id}/hello", get(hello))
        .route_layer(middleware::from_fn_with_state(
            guard.clone(),
            require_path_user,
        ))
        .with_state(guard);

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
