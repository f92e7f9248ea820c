//! Signing-key rotation (issue 12, part 1): `sigil keys list|rotate|retire` on a running server's
//! database, the servers' reload of the key rows, the publication window of a replaced key, the
//! in-process and remote-JWKS guards learning a new key, HS256 secret lists, and the automatic
//! interval creating one key between several instances. SQLite, and PostgreSQL when
//! `SIGIL_TEST_POSTGRES_URL` is set.
//!
//! A server reads its key rows every `RELOAD_PERIOD` (2 s) on its own timer: the tests poll for
//! that event, bounded, and move the servers' `ManualClock` for everything about expiry.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sigil::ops::{Database, KeysCommand, OpsCommand, OpsError};
use sigil::settings::{Mode, Settings};
use sigil_auth::keys::{DEFAULT_GRACE, KeyError, RELOAD_PERIOD};
use sigil_token::Algorithm;
use std::time::{Duration, Instant};

const SECRET: &str = "a-shared-secret-for-every-instance-0123456789";
const TTL: Duration = Duration::from_secs(15 * 60);

/// How long a test waits for a server's next key reload (its period plus scheduling slack).
const RELOAD_WAIT: Duration = Duration::from_secs(8);

fn sqlite_url(app: &TestApp) -> String {
    format!("sqlite://{}", app.path.join("sigil.db").display())
}

/// Runs `sigil keys ...` on `url` by `app`'s clock; its output lines.
async fn keys(app: &TestApp, url: &str, command: KeysCommand) -> Result<Vec<String>, OpsError> {
    sigil::ops::run_with_clock(
        Database {
            url: url.to_owned().into(),
            jwt_ttl: TTL,
            json: true,
        },
        OpsCommand::Keys {
            alg: Algorithm::EdDSA,
            command,
        },
        app.clock.shared(),
    )
    .await
}

async fn rotate(app: &TestApp, url: &str) -> String {
    let out = keys(
        app,
        url,
        KeysCommand::Rotate {
            secret: sigil_auth::Secret::new(SECRET.as_bytes().to_vec(), "test").unwrap(),
        },
    )
    .await
    .expect("rotate");
    let line: Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(line["state"], "signing", "{line}");
    line["kid"].as_str().unwrap().to_owned()
}

async fn list(app: &TestApp, url: &str) -> Vec<Value> {
    keys(app, url, KeysCommand::List)
        .await
        .expect("list")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn state_of(listed: &[Value], kid: &str) -> String {
    listed
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("{kid} listed in {listed:?}"))["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn kid(jwt: &str) -> String {
    jwt_header(jwt)["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let body = app
        .request(Method::GET, "/api/auth/jwks", &[], None)
        .await
        .body;
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A new JWT of `user`'s session from `app`.
async fn fresh_jwt(app: &TestApp, user: &User) -> String {
    let answer = app.jwt(&user.session_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["token"].as_str().unwrap().to_owned()
}

/// Polls (bounded) until `app` signs `user`'s tokens with `want`; how long it took.
async fn until_signing_with(app: &TestApp, user: &User, want: &str) -> Duration {
    let start = Instant::now();
    while start.elapsed() < RELOAD_WAIT {
        if kid(&fresh_jwt(app, user).await) == want {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never signed with the new key {want}", app.url);
}

/// Polls (bounded) until `check` holds on `app`'s published keys.
async fn until_jwks(app: &TestApp, check: impl Fn(&[String]) -> bool) {
    let start = Instant::now();
    while start.elapsed() < RELOAD_WAIT {
        if check(&jwks_kids(app).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/jwks never became as expected: {:?}", jwks_kids(app).await);
}

async fn tasks_status(app: &TestApp, user: &User, jwt: &str) -> StatusCode {
    app.api(
        Method::GET,
        &format!("/api/{}/tasks", user.id),
        Some(jwt),
        None,
    )
    .await
    .status
}

fn with_secret(s: &mut Settings) {
    s.auth.secret = Some(SECRET.into());
}

/// The whole life of a rotation on one server: list, refused retirement of the signing key,
/// rotate, new tokens carry the new kid within the reload period, a token from before verifies
/// until its exp then 401, the old key leaves `/jwks` after its window, audit rows.
#[tokio::test]
async fn a_rotation_on_a_running_server() {
    let app = spawn_with(with_secret).await;
    let url = sqlite_url(&app);
    let user = app.user("rotate@example.com").await;
    let old_jwt = user.jwt.clone();
    let old_kid = kid(&old_jwt);

    let listed = list(&app, &url).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(state_of(&listed, &old_kid), "signing");
    assert_eq!(listed[0]["alg"], "EdDSA");
    assert!(listed[0]["leavesJwksAt"].is_null());

    // The only (current) signing key cannot be retired.
    let refused = keys(
        &app,
        &url,
        KeysCommand::Retire {
            kid: old_kid.clone(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, OpsError::Keys(KeyError::Signing(_))),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("current signing key"),
        "{refused}"
    );
    assert_eq!(jwks_kids(&app).await, vec![old_kid.clone()]);

    let rotated_at = app.clock.shared().now_ms();
    let new_kid = rotate(&app, &url).await;
    assert_ne!(new_kid, old_kid);
    let took = until_signing_with(&app, &user, &new_kid).await;
    assert!(
        took <= RELOAD_PERIOD + Duration::from_secs(2),
        "the new key was in use after {took:?}"
    );
    let new_jwt = fresh_jwt(&app, &user).await;
    let mut published = jwks_kids(&app).await;
    published.sort();
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(published, both, "both keys are published");

    // Both tokens verify on the in-process guard.
    assert_eq!(tasks_status(&app, &user, &old_jwt).await, StatusCode::OK);
    assert_eq!(tasks_status(&app, &user, &new_jwt).await, StatusCode::OK);

    let listed = list(&app, &url).await;
    assert_eq!(state_of(&listed, &new_kid), "signing");
    assert_eq!(state_of(&listed, &old_kid), "verifying-only");
    let old = listed.iter().find(|k| k["kid"] == old_kid).unwrap();
    let window = i64::try_from((TTL + DEFAULT_GRACE).as_millis()).unwrap();
    let leaves = sigil_auth::domain::parse_time(old["leavesJwksAt"].as_str().unwrap()).unwrap();
    assert!(
        (leaves - (rotated_at + window)).abs() < 2_000,
        "leaves /jwks at the rotation + TTL + grace: {old}"
    );

    // The token from before the rotation verifies until its exp (+ 60 s leeway), then 401.
    let exp = jwt_payload(&old_jwt)["exp"].as_i64().unwrap();
    let now = app.clock.shared().now_ms() / 1000;
    app.clock
        .advance(Duration::from_secs(u64::try_from(exp - now).unwrap() - 5));
    assert_eq!(tasks_status(&app, &user, &old_jwt).await, StatusCode::OK);
    app.clock.advance(Duration::from_secs(70));
    assert_eq!(
        tasks_status(&app, &user, &old_jwt).await,
        StatusCode::UNAUTHORIZED
    );
    // Still inside the window: the old key is published.
    assert!(jwks_kids(&app).await.contains(&old_kid));

    // After the window (rotation + TTL + grace), the old key leaves /jwks at the next reload.
    app.clock.advance(DEFAULT_GRACE);
    until_jwks(&app, |kids| kids == [new_kid.clone()]).await;
    assert_eq!(state_of(&list(&app, &url).await, &old_kid), "retired");
    let fresh = fresh_jwt(&app, &user).await;
    assert_eq!(kid(&fresh), new_kid);
    assert_eq!(tasks_status(&app, &user, &fresh).await, StatusCode::OK);

    // Audited, with the key ids and no key material.
    let audit = sigil::ops::run_with_clock(
        Database {
            url: url.clone().into(),
            jwt_ttl: TTL,
            json: true,
        },
        OpsCommand::Audit {
            user: None,
            since: None,
            limit: 100,
        },
        app.clock.shared(),
    )
    .await
    .unwrap();
    let rotated: Vec<Value> = audit
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"] == "key.rotated")
        .collect();
    assert_eq!(rotated.len(), 1, "{audit:?}");
    let text = rotated[0].to_string();
    assert!(text.contains(&new_kid) && text.contains(&old_kid), "{text}");
    assert!(text.contains("\"cli\""), "{text}");
    for private in ["\"d\"", "private", "\"x\""] {
        assert!(!text.contains(private), "{text}");
    }
}

/// Retiring a replaced key takes it out of `/jwks` and makes its tokens refused within the
/// reload period; retiring twice, or an unknown kid, is refused.
#[tokio::test]
async fn retiring_a_replaced_key_refuses_its_tokens_at_once() {
    let app = spawn_with(with_secret).await;
    let url = sqlite_url(&app);
    let user = app.user("retire@example.com").await;
    let old_kid = kid(&user.jwt);
    let new_kid = rotate(&app, &url).await;
    until_signing_with(&app, &user, &new_kid).await;
    assert_eq!(tasks_status(&app, &user, &user.jwt).await, StatusCode::OK);

    let out = keys(
        &app,
        &url,
        KeysCommand::Retire {
            kid: old_kid.clone(),
        },
    )
    .await
    .unwrap();
    assert!(out[0].contains("retired"), "{out:?}");
    until_jwks(&app, |kids| kids == [new_kid.clone()]).await;
    assert_eq!(
        tasks_status(&app, &user, &user.jwt).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(state_of(&list(&app, &url).await, &old_kid), "retired");
    let new_jwt = fresh_jwt(&app, &user).await;
    assert_eq!(tasks_status(&app, &user, &new_jwt).await, StatusCode::OK);

    let again = keys(&app, &url, KeysCommand::Retire { kid: old_kid }).await;
    assert!(
        matches!(again, Err(OpsError::Keys(KeyError::AlreadyRetired(_)))),
        "{again:?}"
    );
    let unknown = keys(
        &app,
        &url,
        KeysCommand::Retire {
            kid: "no-such-kid".into(),
        },
    )
    .await;
    assert!(
        matches!(unknown, Err(OpsError::Keys(KeyError::NoSuchKey(_)))),
        "{unknown:?}"
    );
    // The new signing key is still refused.
    let refused = keys(&app, &url, KeysCommand::Retire { kid: new_kid }).await;
    assert!(
        matches!(refused, Err(OpsError::Keys(KeyError::Signing(_)))),
        "{refused:?}"
    );
    let audit = sigil::ops::run_with_clock(
        Database {
            url: url.into(),
            jwt_ttl: TTL,
            json: true,
        },
        OpsCommand::Audit {
            user: None,
            since: None,
            limit: 100,
        },
        app.clock.shared(),
    )
    .await
    .unwrap();
    assert_eq!(
        audit.iter().filter(|l| l.contains("key.retired")).count(),
        1,
        "{audit:?}"
    );
}

/// Requests in flight while the key rotates (three times) all succeed: token issuance and the
/// tasks API, with tokens of every key.
#[tokio::test]
async fn requests_during_rotations_all_succeed() {
    let app = std::sync::Arc::new(spawn_with(with_secret).await);
    let url = sqlite_url(&app);
    let user = app.user("busy@example.com").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (app, user, stop) = (app.clone(), user.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let token = app.jwt(&user.session_token).await;
                if token.status != StatusCode::OK {
                    failed.push(format!("token: {}", token.status));
                    continue;
                }
                let jwt = token.body["token"].as_str().unwrap().to_owned();
                let status = tasks_status(&app, &user, &jwt).await;
                if status == StatusCode::OK {
                    ok += 1;
                } else {
                    failed.push(format!("tasks: {status}"));
                }
                // The first token keeps being used too.
                let status = tasks_status(&app, &user, &user.jwt).await;
                if status != StatusCode::OK {
                    failed.push(format!("old token: {status}"));
                }
            }
            (ok, failed)
        }));
    }
    for _ in 0..3 {
        let kid = rotate(&app, &url).await;
        until_signing_with(&app, &user, &kid).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for worker in workers {
        let (ok, failed) = worker.await.unwrap();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        total += ok;
    }
    assert!(total > 10, "only {total} requests ran");
}

/// `serve-api --jwks-url` accepts tokens of a new key: an unknown kid makes it refetch the JWKS
/// (at most once per 30 s, read from its clock).
#[tokio::test]
async fn a_jwks_url_api_learns_a_new_key_by_refetching() {
    let auth = spawn_with(|s| {
        with_secret(s);
        s.mode = Mode::AuthOnly;
    })
    .await;
    let url = sqlite_url(&auth);
    let user = auth.user("remote@example.com").await;
    let jwks_url = format!("{}/api/auth/jwks", auth.url);
    let api = spawn_with(|s| {
        s.mode = Mode::ApiOnly;
        s.api.jwks_url = Some(jwks_url.parse().unwrap());
    })
    .await;
    assert_eq!(tasks_status(&api, &user, &user.jwt).await, StatusCode::OK);

    let new_kid = rotate(&auth, &url).await;
    until_signing_with(&auth, &user, &new_kid).await;
    let new_jwt = fresh_jwt(&auth, &user).await;
    // Past the unknown-kid interval since its first fetch, the API refetches and accepts.
    api.clock.advance(Duration::from_secs(31));
    assert_eq!(tasks_status(&api, &user, &new_jwt).await, StatusCode::OK);
    // The old key is still in the refetched set.
    assert_eq!(tasks_status(&api, &user, &user.jwt).await, StatusCode::OK);
}

/// HS256 with a secret list: the first secret signs, every one verifies, on `serve` and on
/// `serve-api`; a token of a secret no longer listed is refused.
#[tokio::test]
async fn hs256_secret_lists_rotate_the_shared_secret() {
    const OLD: &str = "old-hs256-secret-0123456789-abcdefghijklmnop";
    const NEW: &str = "new-hs256-secret-0123456789-abcdefghijklmnop";
    let base = |s: &mut Settings| {
        with_secret(s);
        s.auth.jwt_alg = Algorithm::HS256;
        s.auth.base_url = Some("http://sigil.test".parse().unwrap());
    };
    // Before: the old secret alone.
    let before = spawn_with(|s| {
        base(s);
        s.auth.jwt_secret = vec![OLD.into()];
    })
    .await;
    let user = before.user("hs@example.com").await;
    let old_jwt = user.jwt.clone();
    let dir = before.stop().await;

    // During: SIGIL_JWT_SECRETS=new,old on the same database.
    let mut settings = test_settings(&dir);
    base(&mut settings);
    settings.auth.jwt_secrets = vec![NEW.into(), OLD.into()];
    settings.check().unwrap();
    let during = spawn_settings(settings, dir).await;
    assert_eq!(tasks_status(&during, &user, &old_jwt).await, StatusCode::OK);
    let new_jwt = fresh_jwt(&during, &user).await;
    assert_eq!(jwt_header(&new_jwt)["alg"], "HS256");
    assert!(jwt_header(&new_jwt).get("kid").is_none());
    assert_eq!(tasks_status(&during, &user, &new_jwt).await, StatusCode::OK);

    // serve-api with only the new secret: the new token (signed with the first) verifies, the
    // old one does not; with both (repeated --jwt-secret), both do.
    let api = |secrets: Vec<&'static str>| async move {
        spawn_with(move |s| {
            s.mode = Mode::ApiOnly;
            s.api.jwt_secret = secrets.into_iter().map(Into::into).collect();
            s.api.jwt_issuer = Some("http://sigil.test".into());
            s.check().unwrap();
        })
        .await
    };
    let new_only = api(vec![NEW]).await;
    assert_eq!(
        tasks_status(&new_only, &user, &new_jwt).await,
        StatusCode::OK
    );
    assert_eq!(
        tasks_status(&new_only, &user, &old_jwt).await,
        StatusCode::UNAUTHORIZED
    );
    let both = api(vec![NEW, OLD]).await;
    assert_eq!(tasks_status(&both, &user, &new_jwt).await, StatusCode::OK);
    assert_eq!(tasks_status(&both, &user, &old_jwt).await, StatusCode::OK);
    let stranger = api(vec!["another-hs256-secret-0123456789-abcdefghijk"]).await;
    assert_eq!(
        tasks_status(&stranger, &user, &new_jwt).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The settings refuse a short secret anywhere in the list, both forms at once, a duplicate,
/// and an automatic interval with HS256.
#[test]
fn hs256_secret_lists_are_checked() {
    const GOOD: &str = "good-hs256-secret-0123456789-abcdefghijklmno";
    let check = |configure: &dyn Fn(&mut Settings)| {
        let mut s = Settings::new(Mode::All, "127.0.0.1:0", "sqlite::memory:");
        s.auth.jwt_alg = Algorithm::HS256;
        configure(&mut s);
        s.check()
    };
    assert!(check(&|s| s.auth.jwt_secrets = vec![GOOD.into()]).is_ok());
    let short = check(&|s| s.auth.jwt_secrets = vec![GOOD.into(), "short".into()]).unwrap_err();
    assert!(short.contains("at least 32"), "{short}");
    let both = check(&|s| {
        s.auth.jwt_secrets = vec![GOOD.into()];
        s.auth.jwt_secret = vec![GOOD.into()];
    })
    .unwrap_err();
    assert!(both.contains("not both"), "{both}");
    let twice = check(&|s| s.auth.jwt_secret = vec![GOOD.into(), GOOD.into()]).unwrap_err();
    assert!(twice.contains("twice"), "{twice}");
    let interval = check(&|s| {
        s.auth.jwt_secrets = vec![GOOD.into()];
        s.auth.key_rotation_interval = Some(Duration::from_secs(3600));
    })
    .unwrap_err();
    assert!(interval.contains("SIGIL_JWT_SECRETS"), "{interval}");
    let mut api = Settings::new(Mode::ApiOnly, "127.0.0.1:0", "sqlite::memory:");
    api.api.jwt_secrets = vec![GOOD.into(), "short".into()];
    assert!(api.check().unwrap_err().contains("at least 32"));
}

/// Two instances on one PostgreSQL database: one rotation, and both sign with the new kid within
/// the reload period; a token from before verifies on both. Then the automatic interval, due on
/// both at once, creates exactly one key.
#[tokio::test]
async fn two_instances_on_one_postgres_both_sign_with_the_new_key() {
    let Some(db) = FreshDatabase::create("sigil_keys").await else {
        return;
    };
    let configure = |s: &mut Settings| {
        s.common.database_url = db.url.clone().into();
        with_secret(s);
        s.auth.base_url = Some("http://sigil.test".parse().unwrap());
    };
    let a = spawn_with(configure).await;
    let b = spawn_with(configure).await;
    let user = a.user("pg-rotate@example.com").await;
    let old_kid = kid(&user.jwt);
    assert_eq!(
        kid(&fresh_jwt(&b, &user).await),
        old_kid,
        "one key at start"
    );

    let new_kid = rotate(&a, &db.url).await;
    until_signing_with(&a, &user, &new_kid).await;
    let took = until_signing_with(&b, &user, &new_kid).await;
    assert!(took <= RELOAD_PERIOD + Duration::from_secs(2), "{took:?}");
    for app in [&a, &b] {
        assert_eq!(tasks_status(app, &user, &user.jwt).await, StatusCode::OK);
        let jwt = fresh_jwt(app, &user).await;
        assert_eq!(kid(&jwt), new_kid);
        assert_eq!(tasks_status(&a, &user, &jwt).await, StatusCode::OK);
        assert_eq!(tasks_status(&b, &user, &jwt).await, StatusCode::OK);
    }
    drop((a, b));

    // The automatic interval due on eight instances at once: one new key between them.
    let clock = sigil_guard::clock::ManualClock::starting_now();
    clock.advance(Duration::from_secs(3600));
    let before = due_rotations(&db.url, &clock, 8).await;
    assert_eq!(before, 1, "one key created by eight instances");
    // Not due again within the interval.
    assert_eq!(due_rotations(&db.url, &clock, 2).await, 0);
    db.drop_now().await;
}

/// The automatic interval due on SQLite too: one key per interval.
#[tokio::test]
async fn the_automatic_interval_creates_one_key_per_interval_on_sqlite() {
    let app = spawn_with(with_secret).await;
    let url = sqlite_url(&app);
    let clock = sigil_guard::clock::ManualClock::starting_now();
    assert_eq!(
        due_rotations(&url, &clock, 4).await,
        0,
        "the first key is new"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(due_rotations(&url, &clock, 4).await, 1);
    clock.advance(Duration::from_secs(1800));
    assert_eq!(due_rotations(&url, &clock, 4).await, 0);
    clock.advance(Duration::from_secs(1800));
    assert_eq!(due_rotations(&url, &clock, 4).await, 1);
    let listed = list(&app, &url).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        listed.iter().filter(|k| k["state"] == "signing").count(),
        1,
        "{listed:?}"
    );
    // The server picks the newest key up.
    let user = app.user("interval@example.com").await;
    let newest = listed[0]["kid"].as_str().unwrap().to_owned();
    until_signing_with(&app, &user, &newest).await;
    let audit: Vec<String> = sigil::ops::run_with_clock(
        Database {
            url: url.into(),
            jwt_ttl: TTL,
            json: true,
        },
        OpsCommand::Audit {
            user: None,
            since: None,
            limit: 100,
        },
        app.clock.shared(),
    )
    .await
    .unwrap();
    let rotated: Vec<&String> = audit.iter().filter(|l| l.contains("key.rotated")).collect();
    assert_eq!(rotated.len(), 2, "{audit:?}");
    assert!(
        rotated.iter().all(|l| l.contains("\"schedule\"")),
        "{rotated:?}"
    );
}

/// `instances` key managers on `url` checking a one-hour interval at once; how many rotated.
async fn due_rotations(
    url: &str,
    clock: &sigil_guard::clock::ManualClock,
    instances: usize,
) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..instances {
        let (url, clock) = (url.to_owned(), clock.shared());
        tasks.push(tokio::spawn(async move {
            let (pool, _) = sigil_auth::store::connect(&url).await.unwrap();
            let store: std::sync::Arc<dyn sigil_auth::store::AuthStore> =
                std::sync::Arc::new(sigil_auth::store::SqlStore::new(pool.clone()));
            let manager = sigil_auth::keys::KeyManager::new(
                store.clone(),
                sigil_auth::audit::Audit::new(store, clock.clone()),
                Algorithm::EdDSA,
                SECRET.as_bytes(),
                TTL,
                DEFAULT_GRACE,
                clock,
            );
            let rotated = manager
                .rotate_if_due(Duration::from_secs(3600))
                .await
                .unwrap();
            pool.close().await;
            rotated.is_some()
        }));
    }
    let mut rotated = 0;
    for task in tasks {
        if task.await.unwrap() {
            rotated += 1;
        }
    }
    rotated
}
