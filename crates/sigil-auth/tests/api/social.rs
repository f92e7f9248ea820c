//! Social sign-in over HTTP against a real Sigil and an in-process OpenID Connect provider double
//! (discovery, keys, token and user-info endpoints; PKCE checked, codes single-use). The double
//! is deliberately hostile on demand: it can sign ID tokens with a wrong nonce, audience or
//! issuer, no signature at all, or answer garbage, an OAuth error or nothing. The happy paths
//! also run against panva's certified `oidc-provider` in tests/oidc.
use crate::helpers::{self as common, As, PASSWORD, Server};
use axum::Router;
use axum::extract::{Form, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use sigil_auth::mail::MailKind;
use sigil_auth::social::config::parse_providers;
use sigil_token::{Algorithm, Claims, SigningKey};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What the double does with the next ID token it signs.
#[derive(Clone, Default)]
struct Twist {
    nonce: Option<String>,
    aud: Option<String>,
    iss: Option<String>,
    alg_none: bool,
    expired: bool,
    email_verified: Option<bool>,
    token_answer: Option<(u16, String)>,
    hang: bool,
}

#[derive(Default)]
struct Pending {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    client_id: String,
}

struct Idp {
    issuer: String,
    key: SigningKey,
    /// The identity the next authorization signs in as: (sub, email, name).
    user: Mutex<(String, String, String)>,
    codes: Mutex<HashMap<String, Pending>>,
    twist: Mutex<Twist>,
    access: Mutex<HashMap<String, Value>>,
    token_calls: Mutex<u32>,
}

type Shared = Arc<Idp>;

async fn discovery(State(idp): State<Shared>) -> impl IntoResponse {
    axum::Json(json!({
        "issuer": idp.issuer,
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "userinfo_endpoint": format!("{}/userinfo", idp.issuer),
        "jwks_uri": format!("{}/jwks", idp.issuer),
    }))
}

async fn jwks(State(idp): State<Shared>) -> impl IntoResponse {
    axum::Json(json!({ "keys": [idp.key.verifying_key().to_jwk().unwrap()] }))
}

async fn token(
    State(idp): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    *idp.token_calls.lock().unwrap() += 1;
    let twist = idp.twist.lock().unwrap().clone();
    if twist.hang {
        std::future::pending::<()>().await;
    }
    if let Some((status, body)) = twist.token_answer {
        return (StatusCode::from_u16(status).unwrap(), body).into_response();
    }
    let refuse =
        |e: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e }))).into_response();
    let (sub, email, name) = idp.user.lock().unwrap().clone();
    let (nonce, client_id) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(p) = idp
                .codes
                .lock()
                .unwrap()
                .remove(form.get("code").map(String::as_str).unwrap_or(""))
            else {
                return refuse("invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
            if challenge != p.challenge || form.get("redirect_uri") != Some(&p.redirect_uri) {
                return refuse("invalid_grant");
            }
            (p.nonce, p.client_id)
        }
        Some("refresh_token")
            if form
                .get("refresh_token")
                .is_some_and(|r| r.starts_with("rt-")) =>
        {
            (None, "sigil-client".to_owned())
        }
        _ => return refuse("unsupported_grant_type"),
    };
    let now = sigil_token::now_unix();
    let mut claims = Claims::new(
        sub.clone(),
        now,
        if twist.expired { now - 600 } else { now + 300 },
    )
    .with_issuer(twist.iss.clone().unwrap_or_else(|| idp.issuer.clone()))
    .with_audience(twist.aud.clone().unwrap_or(client_id));
    claims.email = Some(email.clone());
    claims.name = Some(name.clone());
    claims.extra.insert(
        "email_verified".into(),
        json!(twist.email_verified.unwrap_or(true)),
    );
    if let Some(n) = twist.nonce.clone().or(nonce) {
        claims.extra.insert("nonce".into(), json!(n));
    }
    let id_token = if twist.alg_none {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        format!("{h}.{p}.")
    } else {
        sigil_token::sign(&idp.key, &claims).unwrap()
    };
    let access = format!("at-{}", sigil_token::random::alphanumeric(16).unwrap());
    idp.access.lock().unwrap().insert(
        access.clone(),
        json!({ "sub": sub, "email": email, "name": name, "picture": "https://img.example/p.png" }),
    );
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("rt-{}", sigil_token::random::alphanumeric(16).unwrap()),
        "id_token": id_token,
        "scope": "openid email profile",
    }))
    .into_response()
}

async fn userinfo(State(idp): State<Shared>, headers: http::HeaderMap) -> axum::response::Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match idp.access.lock().unwrap().get(bearer) {
        Some(v) => axum::Json(v.clone()).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// GitHub's shape: `/user` and `/user/emails` (an array).
async fn gh_user(State(idp): State<Shared>) -> impl IntoResponse {
    let (sub, _, name) = idp.user.lock().unwrap().clone();
    axum::Json(
        json!({ "id": sub.parse::<u64>().unwrap_or(42), "login": "octo", "name": name, "email": null, "avatar_url": "https://avatars.example/u/42" }),
    )
}

async fn gh_emails(State(idp): State<Shared>) -> impl IntoResponse {
    let (_, email, _) = idp.user.lock().unwrap().clone();
    let verified = idp.twist.lock().unwrap().email_verified.unwrap_or(true);
    axum::Json(json!([
        { "email": "old@example.com", "primary": false, "verified": true },
        { "email": email, "primary": true, "verified": verified },
    ]))
}

async fn start_idp() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let idp = Arc::new(Idp {
        issuer,
        key: SigningKey::generate(Algorithm::ES256, Some("idp-key-1".into())).unwrap(),
        user: Mutex::new((
            "sub-1".into(),
            "ada@example.com".into(),
            "Ada Lovelace".into(),
        )),
        codes: Mutex::default(),
        twist: Mutex::default(),
        access: Mutex::default(),
        token_calls: Mutex::new(0),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .route("/gh/user", get(gh_user))
        .route("/gh/emails", get(gh_emails))
        .with_state(idp.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    idp
}

fn providers_json(idp: &Idp) -> String {
    json!({ "providers": [
        { "id": "corp", "type": "oidc", "name": "Corp SSO", "issuer": idp.issuer, "client_id": "sigil-client", "client_secret": "corp-secret" },
        { "id": "partner", "type": "oidc", "issuer": idp.issuer, "client_id": "partner-client", "client_secret": "partner-secret" },
        { "id": "github", "client_id": "gh-client", "client_secret": "gh-secret",
          "endpoints": { "authorization": format!("{}/gh/authorize", idp.issuer), "token": format!("{}/token", idp.issuer),
                         "user_info": format!("{}/gh/user", idp.issuer), "emails": format!("{}/gh/emails", idp.issuer) } },
    ]})
    .to_string()
}

struct World {
    s: Server,
    idp: Shared,
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(configure: impl FnOnce(&mut sigil_auth::AuthConfig)) -> World {
    let idp = start_idp().await;
    let providers = parse_providers(&providers_json(&idp), |_| None).unwrap();
    let s = common::server_with(|c| {
        c.social_providers = providers;
        c.trusted_origins = vec!["https://app.example".into()];
        configure(c);
    })
    .await;
    World { s, idp }
}

/// A started flow: the browser's state cookie and the authorization request's parameters.
struct Flow {
    cookie: String,
    params: HashMap<String, String>,
}

impl World {
    async fn start(&self, path: &str, who: &As, body: Value) -> Flow {
        let res = self.s.post(path, who, body).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        let url = res.body["url"].as_str().unwrap();
        assert_eq!(res.header("location"), Some(url));
        let cookie = res
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("better-auth.state="))
            .expect("state cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let params: HashMap<String, String> = url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        Flow { cookie, params }
    }

    /// The provider's side of the authorization: a code bound to the request's PKCE challenge,
    /// nonce and redirect URI.
    fn authorize(&self, flow: &Flow) -> String {
        let code = sigil_token::random::alphanumeric(20).unwrap();
        self.idp.codes.lock().unwrap().insert(
            code.clone(),
            Pending {
                nonce: flow.params.get("nonce").cloned(),
                challenge: flow.params["code_challenge"].clone(),
                redirect_uri: flow.params["redirect_uri"].clone(),
                client_id: flow.params["client_id"].clone(),
            },
        );
        code
    }

    /// The browser comes back to Sigil's callback with `query` and `cookie`.
    async fn back(&self, provider: &str, query: &str, cookie: Option<&str>) -> common::Answer {
        let extra: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
        self.s
            .call_with(
                Method::GET,
                &format!("/callback/{provider}?{query}"),
                &As::Nobody,
                None,
                &extra,
            )
            .await
    }

    async fn sign_in(&self, provider: &str, body: Value) -> common::Answer {
        let mut body = body;
        body["provider"] = json!(provider);
        let flow = self.start("/sign-in/social", &As::Nobody, body).await;
        let code = self.authorize(&flow);
        self.back(
            provider,
            &format!("code={code}&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await
    }

    async fn users(&self) -> i64 {
        self.count("users").await
    }

    async fn count(&self, table: &str) -> i64 {
        let path = self.s.db_path();
        let (pool, _) = sigil_auth::store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let q = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }
}

fn location(a: &common::Answer) -> &str {
    a.header("location").unwrap_or("")
}

fn session_of(a: &common::Answer) -> As {
    As::Browser(a.session_cookie().expect("a session cookie"))
}

#[tokio::test]
async fn sign_up_then_sign_in_through_an_oidc_provider_with_pkce_state_and_nonce() {
    let w = world().await;
    let flow = w
        .start("/sign-in/social", &As::Nobody, json!({ "provider": "corp", "callbackURL": "/dashboard", "newUserCallbackURL": "/welcome" }))
        .await;
    let p = &flow.params;
    assert_eq!(p["response_type"], "code");
    assert_eq!(p["code_challenge_method"], "S256");
    assert_eq!(p["client_id"], "sigil-client");
    assert_eq!(
        p["redirect_uri"],
        format!("{}/api/auth/callback/corp", w.s.url)
    );
    assert_eq!(p["scope"], "openid email profile");
    assert_eq!((p["state"].len(), p["nonce"].len()), (32, 32));
    assert!(flow.cookie.len() > 40, "the state cookie is signed");

    let code = w.authorize(&flow);
    let back = w
        .back(
            "corp",
            &format!("code={code}&state={}", p["state"]),
            Some(&flow.cookie),
        )
        .await;
    assert_eq!(
        (back.status, location(&back)),
        (StatusCode::FOUND, "/welcome"),
        "a new user lands on newUserCallbackURL"
    );
    assert!(
        back.cookies()
            .iter()
            .any(|c| c.starts_with("better-auth.state=;") && c.contains("Max-Age=0"))
    );
    let who = session_of(&back);
    let me = w.s.get_session(&who).await;
    assert_eq!(me.body["user"]["email"], "ada@example.com");
    assert_eq!(me.body["user"]["name"], "Ada Lovelace");
    assert_eq!(me.body["user"]["emailVerified"], true);

    // The JWT works like any session's, and ends with the session.
    let jwt = w.s.call(Method::GET, "/token", &who, None).await;
    assert_eq!(jwt.status, StatusCode::OK);
    let accounts = w.s.call(Method::GET, "/list-accounts", &who, None).await;
    let list = accounts.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "no password: only the provider account");
    assert_eq!(
        (
            list[0]["providerId"].as_str(),
            list[0]["accountId"].as_str()
        ),
        (Some("corp"), Some("sub-1"))
    );
    assert_eq!(list[0]["scopes"], json!(["openid", "email", "profile"]));

    // Second time: the same user, the plain callbackURL.
    let again = w
        .sign_in("corp", json!({ "callbackURL": "/dashboard" }))
        .await;
    assert_eq!(location(&again), "/dashboard");
    let me2 = w.s.get_session(&session_of(&again)).await;
    assert_eq!(me2.body["user"]["id"], me.body["user"]["id"]);
    assert_eq!(w.users().await, 1);

    // The provider's tokens are sealed at rest and handed only to their owner.
    let id = list[0]["id"].as_str().unwrap();
    let at =
        w.s.post("/get-access-token", &who, json!({ "accountId": id }))
            .await;
    assert_eq!(at.status, StatusCode::OK, "{:?}", at.body);
    let access = at.body["accessToken"].as_str().unwrap().to_owned();
    assert!(access.starts_with("at-"));
    let path = w.s.db_path();
    let (pool, _) = sigil_auth::store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT access_token, refresh_token FROM accounts")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (a, r) in rows {
        assert!(
            a.unwrap().starts_with("v1.") && r.unwrap().starts_with("v1."),
            "sealed"
        );
    }
    let other = w.s.session("eve@example.com").await;
    let stolen =
        w.s.post("/get-access-token", &other, json!({ "accountId": id }))
            .await;
    assert_eq!(
        (stolen.status, stolen.code()),
        (StatusCode::BAD_REQUEST, "ACCOUNT_NOT_FOUND")
    );
    let info =
        w.s.call(
            Method::GET,
            &format!("/account-info?accountId={id}"),
            &who,
            None,
        )
        .await;
    assert_eq!(info.status, StatusCode::OK, "{:?}", info.body);
    assert_eq!(info.body["user"]["id"], "sub-1");
    assert_eq!(info.body["account"]["providerId"], "corp");
    let refreshed =
        w.s.post("/refresh-token", &who, json!({ "accountId": id }))
            .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_ne!(refreshed.body["accessToken"].as_str().unwrap(), access);
    assert!(
        refreshed.body.get("refreshToken").is_none(),
        "the refresh token never leaves"
    );

    // Signing out ends the social session like any other.
    let out = w.s.post("/sign-out", &who, json!({})).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(w.s.get_session(&who).await.body, Value::Null);
}

#[tokio::test]
async fn forged_replayed_foreign_and_expired_states_are_refused() {
    let w = world().await;
    let error_page = format!("{}/api/auth/error?error=state_mismatch", w.s.url);
    // Forged: never issued.
    let forged = w
        .back(
            "corp",
            "code=abc&state=forgedforgedforgedforgedforged12",
            Some("better-auth.state=x"),
        )
        .await;
    assert_eq!(
        (forged.status, location(&forged)),
        (StatusCode::FOUND, error_page.as_str())
    );
    let none = w.back("corp", "code=abc", None).await;
    assert!(location(&none).ends_with("error=state_not_found"));

    // Another browser (no or another state cookie): refused, and the state is spent.
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp", "errorCallbackURL": "https://app.example/oops" }),
        )
        .await;
    let code = w.authorize(&flow);
    let query = format!("code={code}&state={}", flow.params["state"]);
    let foreign = w.back("corp", &query, None).await;
    assert_eq!(
        location(&foreign),
        "https://app.example/oops?error=state_mismatch"
    );
    let late = w.back("corp", &query, Some(&flow.cookie)).await;
    assert_eq!(
        location(&late),
        error_page,
        "single use: the victim's own retry fails too"
    );

    // Replayed after success.
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp" }),
        )
        .await;
    let code = w.authorize(&flow);
    let query = format!("code={code}&state={}", flow.params["state"]);
    let ok = w.back("corp", &query, Some(&flow.cookie)).await;
    assert!(ok.session_cookie().is_some());
    let replay = w.back("corp", &query, Some(&flow.cookie)).await;
    assert_eq!(location(&replay), error_page);
    assert!(replay.session_cookie().is_none());

    // A state for another provider.
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "partner" }),
        )
        .await;
    let cross = w
        .back(
            "corp",
            &format!("code=x&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await;
    assert!(location(&cross).ends_with("error=state_mismatch"));

    // Expired: ten minutes at the provider at most.
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp" }),
        )
        .await;
    let code = w.authorize(&flow);
    w.s.clock.advance(std::time::Duration::from_secs(11 * 60));
    let expired = w
        .back(
            "corp",
            &format!("code={code}&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await;
    assert_eq!(location(&expired), error_page);
    assert_eq!(w.users().await, 1, "only the one successful sign-up");
}

#[tokio::test]
async fn id_tokens_with_a_wrong_nonce_audience_issuer_signature_or_expiry_create_nothing() {
    let w = world().await;
    let cases: Vec<(&str, Twist)> = vec![
        (
            "nonce",
            Twist {
                nonce: Some("attacker-nonce".into()),
                ..Twist::default()
            },
        ),
        (
            "aud",
            Twist {
                aud: Some("another-client".into()),
                ..Twist::default()
            },
        ),
        (
            "iss",
            Twist {
                iss: Some("https://evil.example".into()),
                ..Twist::default()
            },
        ),
        (
            "alg none",
            Twist {
                alg_none: true,
                ..Twist::default()
            },
        ),
        (
            "expired",
            Twist {
                expired: true,
                ..Twist::default()
            },
        ),
    ];
    for (what, twist) in cases {
        *w.idp.twist.lock().unwrap() = twist;
        let back = w
            .sign_in("corp", json!({ "errorCallbackURL": "/sign-in" }))
            .await;
        assert_eq!(back.status, StatusCode::FOUND, "{what}");
        assert!(
            location(&back).starts_with("/sign-in?error=unable_to_get_user_info"),
            "{what}: {}",
            location(&back)
        );
        assert!(back.session_cookie().is_none(), "{what}");
    }
    assert_eq!(
        (
            w.users().await,
            w.count("accounts").await,
            w.count("sessions").await
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn provider_errors_garbage_silence_and_reused_codes_end_on_the_error_page() {
    let w = world_with(|c| c.social_timeout = std::time::Duration::from_secs(1)).await;
    // The user refused at the provider.
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp", "errorCallbackURL": "/sign-in" }),
        )
        .await;
    let denied = w
        .back(
            "corp",
            &format!(
                "error=access_denied&error_description=User%20said%20no&state={}",
                flow.params["state"]
            ),
            Some(&flow.cookie),
        )
        .await;
    assert_eq!(
        location(&denied),
        "/sign-in?error=access_denied&error_description=User+said+no"
    );

    for (what, twist) in [
        (
            "garbage",
            Twist {
                token_answer: Some((200, "<html>not json".into())),
                ..Twist::default()
            },
        ),
        (
            "oauth error",
            Twist {
                token_answer: Some((400, r#"{"error":"invalid_client"}"#.into())),
                ..Twist::default()
            },
        ),
        (
            "silence",
            Twist {
                hang: true,
                ..Twist::default()
            },
        ),
    ] {
        *w.idp.twist.lock().unwrap() = twist;
        let started = std::time::Instant::now();
        let back = w
            .sign_in("corp", json!({ "errorCallbackURL": "/sign-in" }))
            .await;
        assert_eq!(location(&back), "/sign-in?error=invalid_code", "{what}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{what}: bounded by the timeout"
        );
    }
    *w.idp.twist.lock().unwrap() = Twist::default();

    // A code used once is refused by the provider on reuse (a new flow replaying it).
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp" }),
        )
        .await;
    let code = w.authorize(&flow);
    let ok = w
        .back(
            "corp",
            &format!("code={code}&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await;
    assert!(ok.session_cookie().is_some());
    let flow2 = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp" }),
        )
        .await;
    let reused = w
        .back(
            "corp",
            &format!("code={code}&state={}", flow2.params["state"]),
            Some(&flow2.cookie),
        )
        .await;
    assert!(location(&reused).ends_with("error=invalid_code"));
    assert!(reused.session_cookie().is_none());
    assert_eq!(w.users().await, 1);
}

#[tokio::test]
async fn untrusted_redirect_targets_and_unknown_providers_are_refused_up_front() {
    let w = world().await;
    for field in ["callbackURL", "errorCallbackURL", "newUserCallbackURL"] {
        for target in [
            "https://evil.example/x",
            "//evil.example",
            "javascript:alert(1)",
        ] {
            let res =
                w.s.post(
                    "/sign-in/social",
                    &As::Nobody,
                    json!({ "provider": "corp", field: target }),
                )
                .await;
            assert_eq!(
                (res.status, res.code()),
                (StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL"),
                "{field} {target}"
            );
        }
    }
    let unknown =
        w.s.post(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "nope" }),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "PROVIDER_NOT_FOUND")
    );
    let bad =
        w.s.post(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp", "scopes": ["a b"] }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let trusted = w.s.post("/sign-in/social", &As::Nobody, json!({ "provider": "corp", "callbackURL": "https://app.example/home", "disableRedirect": true })).await;
    assert_eq!(
        (trusted.status, trusted.body["redirect"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert!(trusted.header("location").is_none());
    assert_eq!(
        w.count("verifications").await,
        1,
        "only the trusted request started a flow"
    );
}

async fn verified_password_user(s: &Server, email: &str) -> As {
    let who = s.session(email).await;
    s.post(
        "/send-verification-email",
        &As::Nobody,
        json!({ "email": email }),
    )
    .await;
    let mail = s.mail(email, MailKind::VerifyEmail).await;
    let v = s
        .call(
            Method::GET,
            &format!("/verify-email?token={}", mail.token),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{:?}", v.body);
    who
}

#[tokio::test]
async fn an_existing_email_is_linked_only_when_both_sides_verified_it() {
    let w = world().await;
    // An unverified local account (anyone can register any address): never taken over.
    w.s.sign_up("ada@example.com").await;
    let back = w.sign_in("corp", json!({})).await;
    assert!(
        location(&back).ends_with("error=account_not_linked"),
        "{}",
        location(&back)
    );
    assert_eq!((w.users().await, w.count("accounts").await), (1, 0));

    // A verified local account, but the provider does not vouch for the email.
    let w = world().await;
    let who = verified_password_user(&w.s, "ada@example.com").await;
    w.idp.twist.lock().unwrap().email_verified = Some(false);
    let back = w.sign_in("corp", json!({})).await;
    assert!(location(&back).ends_with("error=account_not_linked"));
    assert_eq!(w.count("accounts").await, 0);

    // Both verified: linked, and the password still works.
    w.idp.twist.lock().unwrap().email_verified = Some(true);
    let back = w.sign_in("corp", json!({})).await;
    assert_eq!(location(&back), format!("{}/", w.s.url));
    let list = w.s.call(Method::GET, "/list-accounts", &who, None).await;
    let providers: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["providerId"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["credential", "corp"]);
    assert_eq!(
        w.s.sign_in("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn link_a_second_provider_then_unlink_but_never_the_last_way_in() {
    let w = world().await;
    let back = w.sign_in("corp", json!({})).await;
    let who = session_of(&back);
    // Link "partner" (same person, same verified email) through the redirect flow.
    let flow = w
        .start(
            "/link-social",
            &who,
            json!({ "provider": "partner", "callbackURL": "/account" }),
        )
        .await;
    let code = w.authorize(&flow);
    let linked = w
        .back(
            "partner",
            &format!("code={code}&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await;
    assert_eq!(location(&linked), "/account");
    assert!(
        linked.session_cookie().is_none(),
        "linking opens no session"
    );
    let list =
        w.s.call(Method::GET, "/list-accounts", &who, None)
            .await
            .body;
    let mut ids: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["providerId"].as_str().unwrap().to_owned(),
                a["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Same creation time on the test's stopped clock: listed by creation, then id.
    ids.sort();
    assert_eq!(
        ids.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["corp", "partner"]
    );

    // Another user cannot link an identity whose email is not theirs.
    let eve = verified_password_user(&w.s, "eve@example.com").await;
    let flow = w
        .start(
            "/link-social",
            &eve,
            json!({ "provider": "github", "errorCallbackURL": "/account" }),
        )
        .await;
    let code = w.authorize(&flow);
    let diff = w
        .back(
            "github",
            &format!("code={code}&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await;
    assert_eq!(location(&diff), "/account?error=email_does_not_match");

    let gone =
        w.s.post("/unlink-account", &who, json!({ "accountId": ids[1].1 }))
            .await;
    assert_eq!(
        (gone.status, gone.body.clone()),
        (StatusCode::OK, json!({ "status": true }))
    );
    let last =
        w.s.post("/unlink-account", &who, json!({ "accountId": ids[0].1 }))
            .await;
    assert_eq!(
        (last.status, last.code()),
        (StatusCode::BAD_REQUEST, "FAILED_TO_UNLINK_LAST_ACCOUNT")
    );
    let foreign =
        w.s.post("/unlink-account", &eve, json!({ "accountId": ids[0].1 }))
            .await;
    assert_eq!(foreign.code(), "ACCOUNT_NOT_FOUND");
    assert_eq!(w.count("accounts").await, 1);
}

#[tokio::test]
async fn github_preset_maps_the_primary_verified_email_from_its_emails_endpoint() {
    let w = world().await;
    *w.idp.user.lock().unwrap() = ("4242".into(), "octo@example.com".into(), "Octo Cat".into());
    let flow = w
        .start(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "github" }),
        )
        .await;
    assert_eq!(flow.params["scope"], "read:user user:email");
    assert!(!flow.params.contains_key("nonce"), "OAuth 2, no ID token");
    let code = w.authorize(&flow);
    let back = w
        .back(
            "github",
            &format!("code={code}&state={}", flow.params["state"]),
            Some(&flow.cookie),
        )
        .await;
    let me = w.s.get_session(&session_of(&back)).await;
    assert_eq!(me.body["user"]["email"], "octo@example.com");
    assert_eq!(me.body["user"]["name"], "Octo Cat");
    assert_eq!(me.body["user"]["image"], "https://avatars.example/u/42");
    assert_eq!(me.body["user"]["emailVerified"], true);
    let list =
        w.s.call(Method::GET, "/list-accounts", &session_of(&back), None)
            .await;
    assert_eq!(list.body[0]["accountId"], "4242");
}

#[tokio::test]
async fn native_apps_sign_in_with_an_id_token_checked_like_any_other() {
    let w = world().await;
    let now = sigil_token::now_unix();
    let mint = |aud: &str, nonce: Option<&str>| {
        let mut c = Claims::new("native-7", now, now + 300)
            .with_issuer(w.idp.issuer.clone())
            .with_audience(aud);
        c.email = Some("nat@example.com".into());
        c.extra.insert("email_verified".into(), json!(true));
        if let Some(n) = nonce {
            c.extra.insert("nonce".into(), json!(n));
        }
        sigil_token::sign(&w.idp.key, &c).unwrap()
    };
    let wrong_aud =
        w.s.post(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp", "idToken": { "token": mint("another-client", None) } }),
        )
        .await;
    assert_eq!(
        (wrong_aud.status, wrong_aud.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_TOKEN")
    );
    let wrong_nonce = w.s.post("/sign-in/social", &As::Nobody, json!({ "provider": "corp", "idToken": { "token": mint("sigil-client", Some("n1")), "nonce": "n2" } })).await;
    assert_eq!(wrong_nonce.code(), "INVALID_TOKEN");
    let github =
        w.s.post(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "github", "idToken": { "token": mint("gh-client", None) } }),
        )
        .await;
    assert_eq!(
        (github.status, github.code()),
        (StatusCode::NOT_FOUND, "ID_TOKEN_NOT_SUPPORTED")
    );
    assert_eq!(w.users().await, 0);

    let ok = w.s.post("/sign-in/social", &As::Nobody, json!({ "provider": "corp", "idToken": { "token": mint("sigil-client", Some("n1")), "nonce": "n1" } })).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["redirect"], false);
    assert_eq!(ok.body["user"]["email"], "nat@example.com");
    assert!(ok.header("set-auth-token").is_some() && ok.session_cookie().is_some());
    assert_eq!(
        *w.idp.token_calls.lock().unwrap(),
        0,
        "no code exchange for an ID token sign-in"
    );
}

#[tokio::test]
async fn a_banned_user_gets_no_session_through_a_provider_and_the_refusal_is_audited() {
    let w = world().await;
    let first = w.sign_in("corp", json!({})).await;
    let who = session_of(&first);
    let me = w.s.get_session(&who).await;
    let id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let sessions_before = w.count("sessions").await;
    let sql = |q: String| {
        let path = w.s.db_path();
        async move {
            let (pool, _) = sigil_auth::store::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(q))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    };
    // Banned without an end (as `sigil users ban` or `/admin/ban-user` leave it).
    sql(format!(
        "UPDATE users SET banned = 1, ban_reason = 'spam' WHERE id = '{id}'"
    ))
    .await;

    let back = w
        .sign_in("corp", json!({ "errorCallbackURL": "/sign-in" }))
        .await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert!(
        location(&back).starts_with("/sign-in?error=banned&error_description=You+have+been+banned"),
        "{}",
        location(&back)
    );
    assert!(back.session_cookie().is_none(), "no session cookie");
    assert_eq!(w.count("sessions").await, sessions_before, "no session row");

    // An ID token sign-in is refused the same way, with Better Auth's code.
    let now = sigil_token::now_unix();
    let mut c = Claims::new("sub-1", now, now + 300)
        .with_issuer(w.idp.issuer.clone())
        .with_audience("sigil-client");
    c.email = Some("ada@example.com".into());
    c.extra.insert("email_verified".into(), json!(true));
    let token = sigil_token::sign(&w.idp.key, &c).unwrap();
    let direct =
        w.s.post(
            "/sign-in/social",
            &As::Nobody,
            json!({ "provider": "corp", "idToken": { "token": token } }),
        )
        .await;
    assert_eq!(
        (direct.status, direct.code()),
        (StatusCode::FORBIDDEN, "BANNED_USER")
    );
    assert!(direct.header("set-auth-token").is_none());
    assert_eq!(w.count("sessions").await, sessions_before);

    // Both refusals and the first sign-in are in the audit log, with the provider, no token.
    let path = w.s.db_path();
    let (pool, _) = sigil_auth::store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event, outcome, detail FROM audit_log WHERE user_id = $1 ORDER BY at",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let refusals = rows
        .iter()
        .filter(|(e, o, d)| {
            e == "sign_in" && o == "failure" && d.contains("\"banned\"") && d.contains("\"corp\"")
        })
        .count();
    assert_eq!(refusals, 2, "{rows:?}");
    assert_eq!(
        rows.first()
            .map(|(e, o, d)| (e.as_str(), o.as_str(), d.contains("\"corp\""))),
        Some(("sign_up", "success", true)),
        "{rows:?}"
    );
    assert!(
        !rows
            .iter()
            .any(|(_, _, d)| d.contains("at-") || d.contains("eyJ")),
        "no provider token, no JWT"
    );

    // A ban that has ended no longer refuses.
    sql(format!(
        "UPDATE users SET ban_expires = 1000 WHERE id = '{id}'"
    ))
    .await;
    let later = w.sign_in("corp", json!({})).await;
    assert!(later.session_cookie().is_some(), "{:?}", later.headers);
}

/// The account rows' rules in the store itself, on SQLite and (with `SIGIL_TEST_POSTGRES_URL`,
/// which `scripts/test` sets and requires) PostgreSQL: one identity per provider, cascade on
/// user deletion, and the unlink statement that never removes the last way in.
#[tokio::test]
async fn account_rows_keep_their_rules_on_sqlite_and_postgres() {
    use sigil_auth::store::{Account, AuthStore, Session, SqlStore, StoreError, Unlinked, User};
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![(
        format!("sqlite://{}", dir.path().join("s.db").display()),
        None,
    )];
    let pg_admin = std::env::var("SIGIL_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    assert!(
        pg_admin.is_some() || std::env::var("SIGIL_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "SIGIL_TEST_POSTGRES_URL is required"
    );
    if let Some(admin) = &pg_admin {
        let name = format!(
            "sigil_social_{}",
            sigil_token::random::alphanumeric(10)
                .unwrap()
                .to_lowercase()
        );
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        urls.push((format!("{base}/{name}"), Some((admin.clone(), name))));
    } else {
        eprintln!("SIGIL_TEST_POSTGRES_URL not set: PostgreSQL part skipped");
    }
    for (url, cleanup) in urls {
        let (pool, _) = sigil_auth::store::connect(&url).await.unwrap();
        let store = SqlStore::new(pool.clone());
        store.migrate().await.unwrap();
        let now = 1_800_000_000_000;
        let user = |id: &str, email: &str| User {
            email_verified: true,
            ..User::new(id.into(), "N".into(), email.into(), None, now)
        };
        let account = |id: &str, user_id: &str, provider: &str, sub: &str| Account {
            id: id.into(),
            user_id: user_id.into(),
            provider_id: provider.into(),
            account_id: sub.into(),
            access_token: Some("v1.sealed".into()),
            refresh_token: None,
            id_token: None,
            access_token_expires_at: Some(now + 1000),
            refresh_token_expires_at: None,
            scope: "openid".into(),
            created_at: now,
            updated_at: now,
        };
        let session = |id: &str, user_id: &str| Session {
            id: id.into(),
            token_hash: format!("h-{id}"),
            user_id: user_id.into(),
            expires_at: now + 1_000_000,
            created_at: now,
            updated_at: now,
            ip_address: String::new(),
            user_agent: String::new(),
            remember: true,
        };
        store
            .create_social_user(
                &user("u1", "a@x.y"),
                &account("a1", "u1", "corp", "s1"),
                &session("s1", "u1"),
            )
            .await
            .unwrap();
        // The same identity for another user, and the same email: refused, nothing half-written.
        assert!(
            matches!(
                store
                    .create_social_user(
                        &user("u2", "b@x.y"),
                        &account("a2", "u2", "corp", "s1"),
                        &session("s2", "u2")
                    )
                    .await,
                Err(StoreError::Conflict)
            ),
            "{url}"
        );
        assert!(
            store.user_by_id("u2").await.unwrap().is_none(),
            "{url}: the transaction rolled back"
        );
        assert!(matches!(
            store
                .insert_account(&account("a3", "u1", "corp", "s1"))
                .await,
            Err(StoreError::Conflict)
        ));
        store
            .insert_account(&account("a4", "u1", "partner", "s1"))
            .await
            .unwrap();
        let found = store
            .account_by_identity("partner", "s1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.id.as_str(), found.access_token_expires_at),
            ("a4", Some(now + 1000))
        );
        let mut updated = found.clone();
        updated.access_token = Some("v1.other".into());
        updated.scope = "openid,email".into();
        store.update_account_tokens(&updated).await.unwrap();
        assert_eq!(
            store
                .accounts_of("u1")
                .await
                .unwrap()
                .iter()
                .find(|a| a.id == "a4")
                .unwrap()
                .scope,
            "openid,email"
        );
        store
            .create_social_user(
                &user("u3", "c@x.y"),
                &account("a5", "u3", "corp", "s3"),
                &session("s3", "u3"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.unlink_account("u3", "a4").await.unwrap(),
            Unlinked::NotFound,
            "{url}: another user's account"
        );
        assert_eq!(
            store.unlink_account("u1", "a4").await.unwrap(),
            Unlinked::Removed
        );
        assert_eq!(
            store.unlink_account("u1", "a1").await.unwrap(),
            Unlinked::Last,
            "{url}"
        );
        // With a password the last provider account may go.
        store.set_password("u1", "hash", now).await.unwrap();
        assert_eq!(
            store.unlink_account("u1", "a1").await.unwrap(),
            Unlinked::Removed
        );
        store.delete_user("u3").await.unwrap();
        assert!(
            store
                .account_by_identity("corp", "s3")
                .await
                .unwrap()
                .is_none(),
            "{url}: cascade"
        );
        pool.close().await;
        if let Some((admin, name)) = cleanup {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
}
