//! Issue 9, items 2, 3, 5 and 8: `Origin: null` from a same-origin form, empty callback URLs,
//! bounded rate-limit memory keyed by route, and reset / email-change links ended by a password
//! change. Each refusal is checked for its status, its `{code, message}` body and that nothing
//! changed.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_auth::mail::MailKind;

/// Signs `email` up and in; the session cookie (`name=value`).
async fn cookie_session(s: &Server, email: &str) -> String {
    s.sign_up(email).await;
    s.sign_in(email, PASSWORD).await.session_cookie().unwrap()
}

async fn name_of(s: &Server, email: &str) -> String {
    let who = As::Bearer(
        s.sign_in(email, PASSWORD).await.body["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    s.get_session(&who).await.body["user"]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn origin_null_from_a_same_origin_form_is_accepted_and_a_cross_site_null_is_refused() {
    let s = server().await;
    let cookie = cookie_session(&s, "nora@example.com").await;
    let update = |site: Option<&'static str>, name: &'static str| {
        let cookie = cookie.clone();
        let s = &s;
        async move {
            let mut extra = vec![("cookie", cookie.as_str()), ("origin", "null")];
            if let Some(site) = site {
                extra.push(("sec-fetch-site", site));
            }
            s.call_with(
                Method::POST,
                "/update-user",
                &As::Nobody,
                Some(json!({ "name": name })),
                &extra,
            )
            .await
        }
    };

    // A form posted from a page of this origin with `Referrer-Policy: no-referrer`.
    let ok = update(Some("same-origin"), "Same Origin").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(name_of(&s, "nora@example.com").await, "Same Origin");

    // Any other `null`: refused, and the name stays.
    for site in [Some("cross-site"), Some("same-site"), Some("none"), None] {
        let refused = update(site, "Attacker").await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN"),
            "{site:?}"
        );
        assert_eq!(refused.body["message"], "Missing or null Origin");
        assert_eq!(name_of(&s, "nora@example.com").await, "Same Origin");
    }

    // Sign-in from such a form (no cookie yet) is accepted too; a cross-site null is not, and
    // creates no session.
    let body = json!({ "email": "nora@example.com", "password": PASSWORD });
    let signed_in = s
        .call_with(
            Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(body.clone()),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    let refused = s
        .call_with(
            Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(body),
            &[
                ("origin", "null"),
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "cors"),
            ],
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN")
    );
    assert!(refused.cookies().is_empty());
}

#[tokio::test]
async fn an_empty_callback_url_is_no_callback_url() {
    let s = server().await;
    let up = s
        .post(
            "/sign-up/email",
            &As::Nobody,
            json!({ "name": "Cal", "email": "cal@example.com", "password": PASSWORD, "callbackURL": "" }),
        )
        .await;
    assert_eq!(up.status, StatusCode::OK, "{:?}", up.body);
    assert!(up.session_cookie().is_some());

    let inn = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": "cal@example.com", "password": PASSWORD, "callbackURL": "" }),
        )
        .await;
    assert_eq!(inn.status, StatusCode::OK, "{:?}", inn.body);
    // As Better Auth: no redirect, no Location, `url` echoes the empty string.
    assert_eq!(inn.body["redirect"], false);
    assert_eq!(inn.body["url"], "");
    assert!(inn.header("location").is_none());

    let verify = s
        .call(
            Method::GET,
            "/verify-email?token=nope&callbackURL=",
            &As::Nobody,
            None,
        )
        .await;
    // Treated as absent: a JSON answer about the token, not a refused callback.
    assert_eq!(
        (verify.status, verify.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_TOKEN")
    );

    // A callback that is not empty is still checked.
    let evil = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": "cal@example.com", "password": PASSWORD, "callbackURL": " " }),
        )
        .await;
    assert_eq!(
        (evil.status, evil.code()),
        (StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL")
    );
    assert!(evil.cookies().is_empty());
}

#[tokio::test]
async fn rate_limits_count_per_route_template_so_random_paths_add_no_keys() {
    let s = server_with(|c| c.rate_limit = true).await;
    let limiter = s.auth.limiter().unwrap();
    let distinct = 3_000;
    let mut limited = 0;
    for i in 0..distinct {
        let answer = s
            .call(
                Method::GET,
                &format!("/reset-password/random-{i}-{}?callbackURL=%2F", i * 7919),
                &As::Nobody,
                None,
            )
            .await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            if limited == 1 {
                assert_eq!(answer.code(), "TOO_MANY_REQUESTS", "{:?}", answer.body);
                assert!(answer.header("x-retry-after").is_some());
            }
        } else {
            assert_eq!(answer.status, StatusCode::FOUND);
        }
    }
    // One client, one route: one counter, whatever the paths (100 per 10 s, then 429).
    assert_eq!(limited, distinct - 100);
    let stats = limiter.memory_stats();
    assert_eq!(stats.keys, 1, "{stats:?}");
    assert_eq!(stats.hits, distinct as u64);
    assert!(stats.work <= 2 * stats.hits, "{stats:?}");
}

#[tokio::test]
async fn a_password_reset_ends_the_other_reset_links() {
    let s = server().await;
    s.sign_up("rhea@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        s.post(
            "/request-password-reset",
            &As::Nobody,
            json!({ "email": "rhea@example.com" }),
        )
        .await;
        let token = loop {
            let mail = s.mail("rhea@example.com", MailKind::ResetPassword).await;
            if !tokens.contains(&mail.token) {
                break mail.token;
            }
            // The new mail is not sent yet (a poll for the mail task, not a wait for time).
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        tokens.push(token);
    }
    let reset = |token: String, password: &'static str| {
        let s = &s;
        async move {
            s.post(
                "/reset-password",
                &As::Nobody,
                json!({ "token": token, "newPassword": password }),
            )
            .await
        }
    };
    let first = reset(tokens[0].clone(), "the first new password").await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let second = reset(tokens[1].clone(), "the second new password").await;
    assert_eq!(
        (second.status, second.code()),
        (StatusCode::BAD_REQUEST, "INVALID_TOKEN")
    );
    assert_eq!(second.body["message"], "Invalid token");
    assert_eq!(
        s.sign_in("rhea@example.com", "the first new password")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.sign_in("rhea@example.com", "the second new password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_password_change_ends_reset_links_and_pending_email_changes() {
    let s = server().await;
    let who = s.session("cole@example.com").await;
    s.post(
        "/request-password-reset",
        &As::Nobody,
        json!({ "email": "cole@example.com" }),
    )
    .await;
    let reset = s.mail("cole@example.com", MailKind::ResetPassword).await;
    let asked = s
        .post(
            "/change-email",
            &who,
            json!({ "newEmail": "thief@example.com" }),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{:?}", asked.body);
    let change = s.mail("thief@example.com", MailKind::ChangeEmail).await;

    let changed = s
        .post(
            "/change-password",
            &who,
            json!({ "currentPassword": PASSWORD, "newPassword": "a brand new password" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    // The earlier reset link no longer sets the password, and says so the same way.
    let link = s
        .call(
            Method::GET,
            &format!("/reset-password/{}?callbackURL=%2Freset", reset.token),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(link.status, StatusCode::FOUND);
    assert!(
        link.header("location")
            .unwrap()
            .ends_with("/reset?error=INVALID_TOKEN")
    );
    let used = s
        .post(
            "/reset-password",
            &As::Nobody,
            json!({ "token": reset.token, "newPassword": "the attacker's password" }),
        )
        .await;
    assert_eq!(
        (used.status, used.code()),
        (StatusCode::BAD_REQUEST, "INVALID_TOKEN")
    );

    // The pending email change is over too: the address stays.
    let query = change
        .url
        .split_once('?')
        .unwrap()
        .1
        .replace("&callbackURL=%2F", "");
    let opened = s
        .call(
            Method::GET,
            &format!("/verify-email?{query}"),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(
        (opened.status, opened.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_TOKEN")
    );
    assert_eq!(
        s.sign_in("cole@example.com", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.sign_in("thief@example.com", "a brand new password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.sign_in("cole@example.com", "the attacker's password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // A change asked after the password change still works.
    let who = As::Bearer(
        s.sign_in("cole@example.com", "a brand new password")
            .await
            .body["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    s.post(
        "/change-email",
        &who,
        json!({ "newEmail": "cole.new@example.com" }),
    )
    .await;
    let fresh = s.mail("cole.new@example.com", MailKind::ChangeEmail).await;
    let query = fresh
        .url
        .split_once('?')
        .unwrap()
        .1
        .replace("&callbackURL=%2F", "");
    let done = s
        .call(
            Method::GET,
            &format!("/verify-email?{query}"),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["user"]["email"], "cole.new@example.com");
}

/// A TCP proxy to Redis that the test can cut, as a Redis outage looks to Sigil.
struct CuttableProxy {
    addr: std::net::SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn to(upstream: String) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let inner = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                inner.lock().unwrap().push(pipe);
            }
        });
        tasks.lock().unwrap().push(accept);
        CuttableProxy { addr, tasks }
    }

    /// Closes the listener and every connection.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn with_redis_down_the_limiter_warns_and_counts_in_memory() {
    let Some(url) = service_url("SIGIL_TEST_REDIS_URL") else {
        return;
    };
    let upstream = url::Url::parse(&url).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(6379)
    );
    let proxy = CuttableProxy::to(upstream).await;
    let mut through = url::Url::parse(&url).unwrap();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(proxy.addr.port())).unwrap();
    let client = redis::Client::open(through.as_str()).unwrap();
    let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    let limiter = sigil_auth::ratelimit::RateLimiter::redis(conn);
    let rule = sigil_auth::ratelimit::Rule {
        window: std::time::Duration::from_secs(10),
        max: 3,
    };
    let unique =
        format!("{:x}", std::process::id()) + &sigil_token::random::alphanumeric(12).unwrap();
    let hit = |key: String| {
        let limiter = &limiter;
        async move {
            // A request must never hang on a dead Redis.
            tokio::time::timeout(std::time::Duration::from_secs(5), limiter.hit(&key, rule))
                .await
                .expect("the limiter answers")
        }
    };

    // Redis up: counted there (the memory table stays empty).
    let up = format!("test-up-{unique}");
    for _ in 0..3 {
        assert!(hit(up.clone()).await.is_ok());
    }
    assert!(hit(up.clone()).await.is_err());
    assert_eq!(limiter.memory_stats().keys, 0);
    assert_eq!(limiter.redis_fallbacks(), 0);

    // Redis down: still limited, in this process's memory, and counted as fallbacks.
    proxy.cut();
    let down = format!("test-down-{unique}");
    for _ in 0..3 {
        assert!(hit(down.clone()).await.is_ok());
    }
    let refused = hit(down.clone()).await;
    assert!(matches!(refused, Err(1..=10)), "{refused:?}");
    assert_eq!(limiter.redis_fallbacks(), 4);
    assert_eq!(limiter.memory_stats().keys, 1);
}

#[tokio::test]
async fn a_million_distinct_paths_keep_one_rate_limit_key_and_flat_work() {
    use tower::ServiceExt;
    let s = server_with(|c| c.rate_limit = true).await;
    // In process (no sockets) so that a million requests take seconds; the same router as served.
    let router = s.auth.router();
    let limiter = s.auth.limiter().unwrap();
    let mut work_per_block = Vec::new();
    let mut last_work = 0;
    let (mut redirected, mut limited) = (0u32, 0u32);
    for i in 0..1_000_000u32 {
        let request = http::Request::get(format!(
            "/api/auth/reset-password/{:08x}{i}?callbackURL=%2F",
            i.wrapping_mul(2_654_435_761)
        ))
        .body(axum::body::Body::empty())
        .unwrap();
        let status = router.clone().oneshot(request).await.unwrap().status();
        match status.as_u16() {
            302 => redirected += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
        if i % 100_000 == 99_999 {
            let stats = limiter.memory_stats();
            assert_eq!(stats.keys, 1, "{stats:?}");
            work_per_block.push(stats.work - last_work);
            last_work = stats.work;
        }
    }
    // 100 per 10 s window, whatever the path.
    assert!(
        redirected >= 100 && limited > 900_000,
        "{redirected} / {limited}"
    );
    // Every block of 100,000 requests cost the table the same work, one operation per request
    // (plus one per window restart dropped from the queue): no growth with the paths seen.
    assert_eq!(work_per_block.len(), 10);
    assert!(
        work_per_block
            .iter()
            .all(|w| (100_000..=100_050).contains(w)),
        "{work_per_block:?}"
    );
}
