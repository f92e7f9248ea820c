//! The OpenAPI document (`GET /api/openapi.json`, `sigil openapi`) against the real server:
//!
//! * it is OpenAPI 3.1 and every `$ref` resolves;
//! * every documented operation is served (no fallback 404/405), and the router serves nothing
//!   under the documented API the document does not have (the router and the document are built
//!   from one `utoipa_axum` route list; probing checks what the server really answers);
//! * real answers, driven through real flows (sign-up, sign-in, sessions, tokens, JWKS, account,
//!   recovery, two-factor, admin, tasks CRUD, and errors), have a status the document lists for
//!   that operation, the documented media type, and a body that validates (JSON Schema 2020-12,
//!   the `jsonschema` crate) against the document's schema for that path, method and status;
//! * every operation gets at least one documented answer checked, and a success answer, except
//!   the few of [`NOT_EXERCISED`] (each with its reason).
//!
//! The flows run on SQLite and on PostgreSQL.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil::settings::{Mode, Settings};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Operations whose success answer no test here produces, and why. Their error answers are
/// still checked (the anonymous sweep calls every operation).
const NOT_EXERCISED: &[(&str, &str, &str)] = &[
    (
        "post",
        "/api/auth/sign-in/social",
        "needs an OAuth provider (tests/oidc drives it)",
    ),
    ("post", "/api/auth/link-social", "needs an OAuth provider"),
    (
        "post",
        "/api/auth/unlink-account",
        "needs a linked provider account",
    ),
    (
        "post",
        "/api/auth/get-access-token",
        "needs a linked provider account",
    ),
    (
        "post",
        "/api/auth/refresh-token",
        "needs a linked provider account",
    ),
    (
        "get",
        "/api/auth/account-info",
        "needs a linked provider account",
    ),
    (
        "post",
        "/api/auth/passkey/verify-registration",
        "needs a WebAuthn authenticator",
    ),
    (
        "post",
        "/api/auth/passkey/verify-authentication",
        "needs a WebAuthn authenticator",
    ),
    (
        "post",
        "/api/auth/passkey/update-passkey",
        "needs a registered passkey",
    ),
    (
        "post",
        "/api/auth/passkey/delete-passkey",
        "needs a registered passkey",
    ),
    (
        "post",
        "/api/auth/get-session",
        "answers 405 by design (no deferSessionRefresh)",
    ),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document and what the tests saw of it.
struct Spec {
    doc: Value,
    /// (method, path template) -> statuses answered and checked.
    seen: Mutex<BTreeMap<(String, String), BTreeSet<u16>>>,
}

impl Spec {
    fn new(doc: Value) -> Spec {
        Spec {
            doc,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Every (method, path template) of the document.
    fn operations(&self) -> Vec<(String, String)> {
        let mut list = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    list.push((method.to_owned(), path.clone()));
                }
            }
        }
        list
    }

    /// Checks `answer` to `method template` against the document: a listed status, the listed
    /// media type, a body valid against the listed schema.
    fn check(&self, method: &Method, template: &str, answer: &Answer) {
        let method = method.as_str().to_lowercase();
        let what = format!("{method} {template} -> {}", answer.status.as_u16());
        let op = &self.doc["paths"][template][&method];
        assert!(op.is_object(), "{what}: no such operation in the document");
        let status = answer.status.as_u16().to_string();
        let response = &op["responses"][&status];
        assert!(
            response.is_object(),
            "{what}: status not in the document ({:?}); body {:?}",
            op["responses"]
                .as_object()
                .map(|r| r.keys().collect::<Vec<_>>()),
            answer.body
        );
        let response = self.resolve(response);
        let content_type = answer
            .header("content-type")
            .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
        match response.get("content").and_then(Value::as_object) {
            None => assert!(
                answer.body.is_null(),
                "{what}: the document says no body, got {:?}",
                answer.body
            ),
            Some(content) => {
                let media = content_type.unwrap_or_default();
                let entry = content
                    .get(&media)
                    .unwrap_or_else(|| panic!("{what}: media type {media:?} not in the document"));
                if let Some(schema) = entry.get("schema") {
                    self.validate(&what, schema, &answer.body);
                }
            }
        }
        self.seen
            .lock()
            .unwrap()
            .entry((method, template.to_owned()))
            .or_default()
            .insert(answer.status.as_u16());
    }

    /// A response object, `$ref` followed.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.pointer(reference),
            None => value,
        }
    }

    fn pointer(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: not a local reference"));
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference}: does not resolve"))
    }

    /// Validates `body` against `schema`, whose `$ref`s point into the document's components.
    fn validate(&self, what: &str, schema: &Value, body: &Value) {
        let mut root = schema.clone();
        if let Some(object) = root.as_object_mut() {
            object.insert("components".into(), self.doc["components"].clone());
        } else {
            panic!("{what}: schema is not an object: {schema}");
        }
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the answer does not fit the document's schema:\n  {}\nbody: {body:#}\nschema: {schema}",
            errors.join("\n  ")
        );
    }

    /// Sends a request and checks the answer (`path` is `template` with its parameters filled in).
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        template: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let answer = app.request(method.clone(), path, headers, body).await;
        self.check(&method, template, &answer);
        answer
    }

    /// An identity route (`/api/auth` + `route`) with a session token as bearer, checked.
    async fn auth(
        &self,
        app: &TestApp,
        method: Method,
        route: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        let template = format!("/api/auth{}", route.split('?').next().unwrap_or(route));
        self.call(
            app,
            method,
            &template,
            &format!("/api/auth{route}"),
            &headers,
            body,
        )
        .await
    }

    /// [`Spec::auth`], expecting a success.
    async fn ok(
        &self,
        app: &TestApp,
        method: Method,
        route: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let answer = self.auth(app, method.clone(), route, token, body).await;
        assert!(
            answer.status.is_success() || answer.status.is_redirection(),
            "{method} {route}: {} {:?}",
            answer.status,
            answer.body
        );
        answer
    }

    /// Every operation that got no success answer, less [`NOT_EXERCISED`].
    fn unexercised(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        self.operations()
            .into_iter()
            .filter(|(method, path)| {
                !seen
                    .get(&(method.clone(), path.clone()))
                    .is_some_and(|statuses| statuses.iter().any(|s| *s < 400))
            })
            .filter(|(method, path)| {
                !NOT_EXERCISED
                    .iter()
                    .any(|(m, p, _)| m == method && p == path)
            })
            .map(|(method, path)| format!("{method} {path}"))
            .collect()
    }
}

/// The document a server serves, checked to be the one `sigil::openapi` builds for its mode.
async fn served_document(app: &TestApp, mode: Mode) -> Value {
    let answer = app
        .request(Method::GET, "/api/openapi.json", &[], None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let built: Value = serde_json::from_str(&sigil::openapi::json(mode)).unwrap();
    assert_eq!(answer.body, built);
    answer.body
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let doc: Value = serde_json::from_str(&sigil::openapi::json(Mode::All)).unwrap();
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(doc["info"]["title"], "Sigil");
    assert!(doc["info"]["version"].is_string());
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "only {} references", refs.len());
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: not a local reference"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    // Every schema compiles as JSON Schema 2020-12 (what OpenAPI 3.1 schemas are).
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let mut root = schema.clone();
        root["components"] = doc["components"].clone();
        assert!(
            jsonschema::draft202012::new(&root).is_ok(),
            "components.schemas.{name} does not compile"
        );
    }
    // Every operation: a tag, at least one success answer, an error answer in the
    // `{code, message}` shape; the ones that need a session or a JWT say so.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let what = format!("{method} {path}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{what}"
            );
            let responses = op["responses"].as_object().unwrap();
            // `POST /get-session` only answers 405 (Better Auth's deferSessionRefresh).
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3'))
                    || what == "post /api/auth/get-session",
                "{what}: no success answer"
            );
            if path.starts_with("/api/auth/") || path.contains("/tasks") {
                let error = &responses
                    .get("500")
                    .unwrap_or_else(|| panic!("{what}: no 500"))["content"]["application/json"]["schema"]
                    ["$ref"];
                assert_eq!(error, "#/components/schemas/ErrorBody", "{what}");
            }
            if path.contains("/tasks") {
                assert_eq!(op["security"], json!([{ "bearerJwt": [] }]), "{what}");
                assert!(responses.contains_key("401") && responses.contains_key("403"));
            }
        }
    }
    // Operation ids are unique (client generators name their functions after them).
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
        }
    }
    for (path, method, id) in [
        ("/api/auth/sign-in/email", "post", "signInEmail"),
        ("/api/auth/get-session", "post", "getSessionPost"),
        ("/api/auth/admin/update-user", "post", "adminUpdateUser"),
        ("/api/{user_id}/tasks", "get", "listTasks"),
    ] {
        assert_eq!(doc["paths"][path][method]["operationId"], id);
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerJwt"]["scheme"], "bearer");
    assert_eq!(schemes["bearerJwt"]["bearerFormat"], "JWT");
    assert_eq!(schemes["sessionToken"]["scheme"], "bearer");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    let op = &doc["paths"]["/api/auth/list-sessions"]["get"];
    assert_eq!(
        op["security"],
        json!([{ "sessionCookie": [] }, { "sessionToken": [] }])
    );
    assert!(op["responses"]["401"].is_object());
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.push(v.as_str().unwrap().to_owned());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `template` with every `{param}` filled with `value`.
fn fill(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether an answer is the router's own "no such route" (the fallbacks), not a handler's.
fn is_fallback(answer: &Answer) -> bool {
    matches!(answer.status.as_u16(), 404 | 405)
        && matches!(answer.code(), "NOT_FOUND" | "METHOD_NOT_ALLOWED")
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    for mode in [Mode::All, Mode::AuthOnly] {
        let app = spawn_with(|s| {
            s.mode = mode;
        })
        .await;
        let doc = served_document(&app, mode).await;
        let spec = Spec::new(doc);
        let operations = spec.operations();
        let has = |prefix: &str| operations.iter().any(|(_, p)| p.starts_with(prefix));
        assert!(has("/api/auth/"));
        assert!(has("/api/openapi.json"));
        assert!(has("/healthz") && has("/readyz"));
        assert_eq!(has("/api/{user_id}/tasks"), mode == Mode::All, "{mode:?}");
        // Every documented operation reaches a handler: anonymous, with an empty JSON object.
        for (method, path) in &operations {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let concrete = fill(path, "x1");
            let answer = spec
                .call(&app, method.clone(), path, &concrete, &[], body)
                .await;
            assert!(
                !is_fallback(&answer),
                "{method} {path}: documented but not served: {:?}",
                answer.body
            );
        }
        // And the reverse: under the documented prefixes, every method the document does not
        // list for a path is refused by the router (405), so the router serves nothing more.
        for (path, item) in spec.doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    continue;
                }
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let answer = app.request(m, &fill(path, "x1"), &[], None).await;
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: served but not documented"
                );
            }
        }
    }
    // serve-api: the tasks and operational routes only.
    let dir = tempfile::tempdir().unwrap();
    let mut settings: Settings = test_settings(&dir);
    settings.mode = Mode::ApiOnly;
    settings.api.jwt_secret = vec![HS_SECRET.into()];
    settings.api.jwt_issuer = Some("http://auth.example".into());
    let app = spawn_settings(settings, dir).await;
    let doc = served_document(&app, Mode::ApiOnly).await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/api/openapi.json",
            "/api/{user_id}/tasks",
            "/api/{user_id}/tasks/{id}",
            "/api/{user_id}/tasks/{id}/complete",
            "/healthz",
            "/readyz"
        ]
    );
    let identity = app
        .request(Method::GET, "/api/auth/get-session", &[], None)
        .await;
    assert_eq!(identity.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn real_answers_fit_the_document_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&dir);
    the_story(settings, dir).await;
}

#[tokio::test]
async fn real_answers_fit_the_document_on_postgres() {
    let Some(db) = FreshDatabase::create("sigil_openapi_test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings: Settings = test_settings(&dir);
    settings.common.database_url = db.url.clone().into();
    settings.auth.secret = Some("a-shared-secret-for-every-instance-0123456789".into());
    the_story(settings, dir).await;
    db.drop_now().await;
}

/// Drives the flows against a server with `settings` and checks every answer.
async fn the_story(mut settings: Settings, dir: tempfile::TempDir) {
    // A domain name, not an IP address: passkeys are on (and every client call goes through the
    // session token as a bearer, so the base URL's origin is never checked).
    settings.auth.base_url = Some("http://localhost:3000".parse().unwrap());
    let keep = settings.clone();
    let app = spawn_settings(settings, dir).await;
    let doc = served_document(&app, Mode::All).await;
    let spec = Spec::new(doc);
    let s = &spec;
    let get = Method::GET;
    let post = Method::POST;

    // Anonymous: every operation once (errors mostly), each answer checked.
    for (method, path) in spec.operations() {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        s.call(&app, method, &path, &fill(&path, "x1"), &[], body)
            .await;
    }

    // Sign-up, sign-in, sessions, tokens.
    let up = s
        .ok(
            &app,
            post.clone(),
            "/sign-up/email",
            None,
            Some(json!({"name": "Ann", "email": "ann@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(up.status, StatusCode::OK);
    let ann_id = up.body["user"]["id"].as_str().unwrap().to_owned();
    let again = s
        .auth(
            &app,
            post.clone(),
            "/sign-up/email",
            None,
            Some(json!({"name": "Ann", "email": "ann@example.com", "password": PASSWORD})),
        )
        .await;
    assert!(again.status.is_client_error());
    let bad = s
        .auth(
            &app,
            post.clone(),
            "/sign-in/email",
            None,
            Some(json!({"email": "ann@example.com", "password": "wrong-password-123"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let inn = s
        .ok(&app, post.clone(), "/sign-in/email", None, Some(json!({"email": "ann@example.com", "password": PASSWORD, "requestRefreshToken": true, "callbackURL": "/tasks"})))
        .await;
    assert_eq!(inn.status, StatusCode::OK);
    let ann = inn.body["token"].as_str().unwrap().to_owned();
    let refresh_token = inn.body["refreshToken"].as_str().unwrap().to_owned();
    let t = Some(ann.as_str());
    let session = s.ok(&app, get.clone(), "/get-session", t, None).await;
    assert_eq!(session.body["user"]["id"], ann_id.as_str());
    s.auth(&app, post.clone(), "/get-session", t, None).await;
    let jwt = s.ok(&app, get.clone(), "/token", t, None).await;
    let ann_jwt = jwt.body["token"].as_str().unwrap().to_owned();
    s.ok(&app, get.clone(), "/jwks", None, None).await;
    let refreshed = s
        .ok(
            &app,
            post.clone(),
            "/refresh",
            None,
            Some(json!({"refreshToken": refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let reused = s
        .auth(
            &app,
            post.clone(),
            "/refresh",
            None,
            Some(json!({"refreshToken": refresh_token})),
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    // A reused refresh token ends its session (theft detection): sign in again.
    let inn = app.sign_in("ann@example.com", PASSWORD).await;
    let ann = inn.body["token"].as_str().unwrap().to_owned();
    let t = Some(ann.as_str());
    s.ok(&app, get.clone(), "/list-sessions", t, None).await;
    s.ok(&app, get.clone(), "/ok", None, None).await;
    s.ok(&app, get.clone(), "/error?error=STATE_MISMATCH", None, None)
        .await;
    s.ok(&app, get.clone(), "/list-accounts", t, None).await;
    s.ok(
        &app,
        get.clone(),
        "/passkey/generate-register-options",
        t,
        None,
    )
    .await;
    s.ok(&app, get.clone(), "/passkey/list-user-passkeys", t, None)
        .await;
    s.ok(
        &app,
        get.clone(),
        "/passkey/generate-authenticate-options",
        None,
        None,
    )
    .await;

    // Account.
    s.ok(
        &app,
        post.clone(),
        "/update-user",
        t,
        Some(json!({"name": "Ann B"})),
    )
    .await;
    s.ok(
        &app,
        post.clone(),
        "/change-email",
        t,
        Some(json!({"newEmail": "ann.b@example.com"})),
    )
    .await;
    let changed = s
        .ok(&app, post.clone(), "/change-password", t, Some(json!({"currentPassword": PASSWORD, "newPassword": "another-password-456", "revokeOtherSessions": true})))
        .await;
    let ann = changed.body["token"].as_str().unwrap().to_owned();
    let t = Some(ann.as_str());
    s.ok(
        &app,
        post.clone(),
        "/admin/has-permission",
        t,
        Some(json!({"permissions": {"user": ["list"]}})),
    )
    .await;
    let refused = s
        .auth(&app, get.clone(), "/admin/list-users", t, None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Two-factor: enabled, confirmed with a code of the authenticator app (computed from the
    // key URI at the server's time), then the mailed code and a backup code, then disabled.
    let enabled = s
        .ok(
            &app,
            post.clone(),
            "/two-factor/enable",
            t,
            Some(json!({"password": "another-password-456"})),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK);
    let uri = s
        .ok(
            &app,
            post.clone(),
            "/two-factor/get-totp-uri",
            t,
            Some(json!({"password": "another-password-456"})),
        )
        .await;
    let key = totp_key(uri.body["totpURI"].as_str().unwrap());
    let now = sigil_guard::clock::Clock::now_unix(&app.clock);
    let totp = sigil_auth::totp::code_at(&key, now);
    s.ok(
        &app,
        post.clone(),
        "/two-factor/verify-totp",
        t,
        Some(json!({"code": totp})),
    )
    .await;
    s.ok(
        &app,
        post.clone(),
        "/two-factor/send-otp",
        t,
        Some(json!({})),
    )
    .await;
    let mailed = app.mail("ann@example.com", "two-factor-code").await;
    s.ok(
        &app,
        post.clone(),
        "/two-factor/verify-otp",
        t,
        Some(json!({"code": mailed["token"]})),
    )
    .await;
    let codes = s
        .ok(
            &app,
            post.clone(),
            "/two-factor/generate-backup-codes",
            t,
            Some(json!({"password": "another-password-456"})),
        )
        .await;
    let code = codes.body["backupCodes"][0].as_str().unwrap().to_owned();
    s.ok(
        &app,
        post.clone(),
        "/two-factor/verify-backup-code",
        t,
        Some(json!({"code": code})),
    )
    .await;
    s.ok(
        &app,
        post.clone(),
        "/two-factor/disable",
        t,
        Some(json!({"password": "another-password-456"})),
    )
    .await;

    // Recovery.
    s.ok(
        &app,
        post.clone(),
        "/send-verification-email",
        None,
        Some(json!({"email": "ann@example.com"})),
    )
    .await;
    let link = app.mail("ann@example.com", "verify-email").await;
    let verified = s
        .ok(
            &app,
            get.clone(),
            &format!("/verify-email?token={}", link["token"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(verified.body["status"], true);
    let bad_link = s
        .auth(
            &app,
            get.clone(),
            "/verify-email?token=not-a-token",
            None,
            None,
        )
        .await;
    assert_eq!(bad_link.status, StatusCode::UNAUTHORIZED);
    s.ok(
        &app,
        post.clone(),
        "/request-password-reset",
        None,
        Some(json!({"email": "ann@example.com", "redirectTo": "/reset-password"})),
    )
    .await;
    let mail = app.mail("ann@example.com", "reset-password").await;
    let reset_token = mail["token"].as_str().unwrap().to_owned();
    s.call(
        &app,
        get.clone(),
        "/api/auth/reset-password/{token}",
        &format!("/api/auth/reset-password/{reset_token}?callbackURL=/reset-password"),
        &[],
        None,
    )
    .await;
    let reset = s
        .ok(
            &app,
            post.clone(),
            "/reset-password",
            None,
            Some(json!({"token": reset_token, "newPassword": "third-password-789"})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);

    // Sessions end.
    let bob = app.user("bob@example.com").await;
    let b = Some(bob.session_token.as_str());
    let second = app.sign_in("bob@example.com", PASSWORD).await;
    let second = second.body["token"].as_str().unwrap().to_owned();
    s.ok(
        &app,
        post.clone(),
        "/revoke-session",
        b,
        Some(json!({"token": second})),
    )
    .await;
    s.ok(
        &app,
        post.clone(),
        "/revoke-other-sessions",
        b,
        Some(json!({})),
    )
    .await;

    // Tasks.
    tasks_story(s, &app, &bob).await;

    s.ok(&app, post.clone(), "/revoke-sessions", b, Some(json!({})))
        .await;
    let bob2 = app.sign_in("bob@example.com", PASSWORD).await;
    let bob2 = bob2.body["token"].as_str().unwrap().to_owned();
    s.ok(
        &app,
        post.clone(),
        "/sign-out",
        Some(&bob2),
        Some(json!({})),
    )
    .await;
    let bob3 = app.sign_in("bob@example.com", PASSWORD).await;
    let bob3 = bob3.body["token"].as_str().unwrap().to_owned();
    let deleted = s
        .ok(
            &app,
            post.clone(),
            "/delete-user",
            Some(&bob3),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    drop(ann_jwt);

    // Admin: a restart names an administrator.
    let admin = app.user("root@example.com").await;
    let dir = app.stop().await;
    let mut settings = keep;
    settings.auth.admin_user_ids = vec![admin.id.clone()];
    let app = spawn_settings(settings, dir).await;
    admin_story(s, &app, &admin).await;

    // The openapi route itself.
    s.call(
        &app,
        get.clone(),
        "/api/openapi.json",
        "/api/openapi.json",
        &[],
        None,
    )
    .await;

    let left = spec.unexercised();
    assert!(
        left.is_empty(),
        "operations with no success answer checked (add a flow, or a reasoned NOT_EXERCISED entry): {left:#?}"
    );
}

/// The key of an `otpauth://` URI (its base32 `secret`).
fn totp_key(uri: &str) -> Vec<u8> {
    let secret = uri
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .unwrap();
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut key = Vec::new();
    for c in secret.bytes().filter(|c| *c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {secret}"),
        };
        bits = (bits << 5) | u64::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            key.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    key
}

async fn tasks_story(s: &Spec, app: &TestApp, user: &User) {
    let list = "/api/{user_id}/tasks";
    let one = "/api/{user_id}/tasks/{id}";
    let complete = "/api/{user_id}/tasks/{id}/complete";
    let base = format!("/api/{}/tasks", user.id);
    let bearer = format!("Bearer {}", user.jwt);
    let auth: &[(&str, &str)] = &[("authorization", &bearer)];
    let created = s
        .call(
            app,
            Method::POST,
            list,
            &base,
            auth,
            Some(json!({"title": "Write the spec", "description": "3.1"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("{base}/{id}");
    s.call(app, Method::GET, list, &base, auth, None).await;
    s.call(
        app,
        Method::GET,
        list,
        &format!("{base}?status=pending"),
        auth,
        None,
    )
    .await;
    let bad_filter = s
        .call(
            app,
            Method::GET,
            list,
            &format!("{base}?status=nope"),
            auth,
            None,
        )
        .await;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
    s.call(app, Method::GET, one, &path, auth, None).await;
    s.call(
        app,
        Method::PUT,
        one,
        &path,
        auth,
        Some(json!({"title": "Rewrite the spec"})),
    )
    .await;
    s.call(
        app,
        Method::PATCH,
        complete,
        &format!("{path}/complete"),
        auth,
        Some(json!({"completed": true})),
    )
    .await;
    let invalid = s
        .call(
            app,
            Method::POST,
            list,
            &base,
            auth,
            Some(json!({"title": ""})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_type = app
        .raw(
            Method::POST,
            &base,
            &[("authorization", &bearer), ("content-type", "text/plain")],
            "{}",
        )
        .await;
    s.check(&Method::POST, list, &wrong_type);
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let malformed = app
        .raw(
            Method::POST,
            &base,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            "{\"title\":",
        )
        .await;
    s.check(&Method::POST, list, &malformed);
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let other = s
        .call(
            app,
            Method::GET,
            list,
            "/api/someone-else/tasks",
            auth,
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let anonymous = s.call(app, Method::GET, one, &path, &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let deleted = s.call(app, Method::DELETE, one, &path, auth, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = s.call(app, Method::GET, one, &path, auth, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

async fn admin_story(s: &Spec, app: &TestApp, admin: &User) {
    let t = Some(admin.session_token.as_str());
    let get = Method::GET;
    let post = Method::POST;
    s.ok(app, get.clone(), "/admin/list-users?limit=10", t, None)
        .await;
    let created = s
        .ok(
            app,
            post.clone(),
            "/admin/create-user",
            t,
            Some(json!({"email": "carl@example.com", "password": PASSWORD, "name": "Carl"})),
        )
        .await;
    let carl = created.body["user"]["id"].as_str().unwrap().to_owned();
    s.ok(
        app,
        get.clone(),
        &format!("/admin/get-user?id={carl}"),
        t,
        None,
    )
    .await;
    let missing = s
        .auth(app, get.clone(), "/admin/get-user?id=nobody", t, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    s.ok(
        app,
        post.clone(),
        "/admin/update-user",
        t,
        Some(json!({"userId": carl, "data": {"name": "Carl C"}})),
    )
    .await;
    s.ok(
        app,
        post.clone(),
        "/admin/set-role",
        t,
        Some(json!({"userId": carl, "role": "user"})),
    )
    .await;
    s.ok(
        app,
        post.clone(),
        "/admin/set-user-password",
        t,
        Some(json!({"userId": carl, "newPassword": "carl-new-password-1"})),
    )
    .await;
    let carl_in = app.sign_in("carl@example.com", "carl-new-password-1").await;
    assert_eq!(carl_in.status, StatusCode::OK);
    let sessions = s
        .ok(
            app,
            post.clone(),
            "/admin/list-user-sessions",
            t,
            Some(json!({"userId": carl})),
        )
        .await;
    let handle = sessions.body["sessions"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ok(
        app,
        post.clone(),
        "/admin/revoke-user-session",
        t,
        Some(json!({"sessionToken": handle})),
    )
    .await;
    s.ok(
        app,
        post.clone(),
        "/admin/revoke-user-sessions",
        t,
        Some(json!({"userId": carl})),
    )
    .await;
    s.ok(
        app,
        post.clone(),
        "/admin/ban-user",
        t,
        Some(json!({"userId": carl, "banReason": "spam", "banExpiresIn": 3600})),
    )
    .await;
    let banned = app.sign_in("carl@example.com", "carl-new-password-1").await;
    s.check(&post, "/api/auth/sign-in/email", &banned);
    assert_eq!(banned.status, StatusCode::FORBIDDEN);
    s.ok(
        app,
        post.clone(),
        "/admin/unban-user",
        t,
        Some(json!({"userId": carl})),
    )
    .await;
    s.ok(
        app,
        get.clone(),
        &format!("/admin/audit-log?userId={carl}&limit=50"),
        t,
        None,
    )
    .await;
    s.ok(
        app,
        post.clone(),
        "/admin/remove-user",
        t,
        Some(json!({"userId": carl})),
    )
    .await;
}

#[test]
fn the_command_line_prints_the_whole_document() {
    let output = std::process::Command::new(SIGIL)
        .arg("openapi")
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let built: Value = serde_json::from_str(&sigil::openapi::json(Mode::All)).unwrap();
    assert_eq!(printed, built);
    assert!(printed["paths"]["/api/auth/sign-in/email"]["post"].is_object());
    assert!(printed["paths"]["/api/{user_id}/tasks"]["get"].is_object());
}
