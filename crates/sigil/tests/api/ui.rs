//! The web UI's routes: pages, embedded assets, security headers, session redirects and the
//! split-mode wiring. (The pages themselves run in a real browser in `tests/browser/`.)

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil::settings::Mode;

const PAGES: &[&str] = &[
    "/sign-in",
    "/sign-up",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
];

/// The `/assets/<version>` prefix a page links to.
fn asset_prefix(html: &str) -> String {
    let start = html.find("/assets/").expect("a page links its assets");
    let rest = &html[start + "/assets/".len()..];
    let version = rest.split('/').next().unwrap();
    assert!(html.contains(&format!("/assets/{version}/app.js")));
    format!("/assets/{version}")
}

/// The modules `import … from './x.js'` in a script.
fn imports(script: &str) -> Vec<String> {
    script
        .split("from './")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_the_embedded_assets_load() {
    let app = spawn_app().await;
    for page in PAGES {
        let answer = app.request(Method::GET, page, &[], None).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
        assert_eq!(
            answer.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let csp = answer.header("content-security-policy").unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self';",
            "style-src 'self';",
            "connect-src 'self';",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{page}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
        assert_eq!(answer.header("referrer-policy"), Some("same-origin"));
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let html = answer.body.as_str().unwrap();
        assert!(html.contains("<meta name=\"sigil-api\" content=\"\">"));
        assert!(!html.contains("<script>") && !html.contains("style=\""));
    }

    // Every module app.js imports, the stylesheet and the icon are served, cacheable for a year.
    let html = app.request(Method::GET, "/sign-in", &[], None).await.body;
    let prefix = asset_prefix(html.as_str().unwrap());
    let app_js = app
        .request(Method::GET, &format!("{prefix}/app.js"), &[], None)
        .await;
    assert_eq!(app_js.status, StatusCode::OK);
    let modules = imports(app_js.body.as_str().unwrap());
    assert!(modules.len() >= 5, "{modules:?}");
    let mut files: Vec<(String, &str)> = modules
        .iter()
        .map(|m| (m.clone(), "text/javascript; charset=utf-8"))
        .collect();
    files.push(("sigil.css".into(), "text/css; charset=utf-8"));
    files.push(("favicon.svg".into(), "image/svg+xml"));
    for (file, content_type) in &files {
        let answer = app
            .request(Method::GET, &format!("{prefix}/{file}"), &[], None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{file}");
        assert_eq!(answer.header("content-type"), Some(*content_type), "{file}");
        assert_eq!(
            answer.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        let etag = answer.header("etag").unwrap().to_owned();
        let again = app
            .request(
                Method::GET,
                &format!("{prefix}/{file}"),
                &[("if-none-match", &etag)],
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{file}");
    }

    // Another version: the current file, revalidated every time. Unknown files: 404.
    let old = app
        .request(Method::GET, "/assets/0000/app.js", &[], None)
        .await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(old.header("cache-control"), Some("no-cache"));
    let missing = app
        .request(Method::GET, &format!("{prefix}/nope.js"), &[], None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn signed_in_pages_need_a_session_and_sign_in_is_skipped_with_one() {
    let app = spawn_app().await;
    let location = |a: &Answer| a.header("location").unwrap_or("").to_owned();

    // Signed out.
    let home = app.request(Method::GET, "/", &[], None).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/sign-in");
    for (page, next) in [
        ("/tasks", "%2Ftasks"),
        ("/tasks?status=pending", "%2Ftasks%3Fstatus%3Dpending"),
        ("/tasks/abc", "%2Ftasks%2Fabc"),
        ("/account", "%2Faccount"),
    ] {
        let answer = app.request(Method::GET, page, &[], None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(location(&answer), format!("/sign-in?next={next}"));
    }

    // Signed in (the browser's cookie).
    let up = app
        .sign_up("Grace", "grace@example.com", "a long passphrase")
        .await;
    let cookie = up
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("better-auth.session_token="))
        .unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = [("cookie", cookie.as_str())];
    for page in ["/tasks", "/tasks/abc", "/account"] {
        let answer = app.request(Method::GET, page, &with_cookie, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
    }
    for page in ["/", "/sign-in", "/sign-up"] {
        let answer = app.request(Method::GET, page, &with_cookie, None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(location(&answer), "/tasks");
    }

    // After sign-out the old cookie is dead: back to sign-in, and the cookie is cleared.
    let out = app
        .request(
            Method::POST,
            "/api/auth/sign-out",
            &[("cookie", cookie.as_str()), ("origin", app.url.as_str())],
            Some(json!({})),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    let answer = app.request(Method::GET, "/tasks", &with_cookie, None).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/sign-in?next=%2Ftasks");
    assert!(
        answer
            .cookies()
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=;"))
    );
}

#[tokio::test]
async fn serve_auth_points_its_pages_at_the_api_url() {
    let app = spawn_with(|s| {
        s.mode = Mode::AuthOnly;
        s.auth.api_url = Some("http://127.0.0.1:9/".parse().unwrap());
    })
    .await;
    let answer = app.request(Method::GET, "/sign-in", &[], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .body
            .as_str()
            .unwrap()
            .contains("<meta name=\"sigil-api\" content=\"http://127.0.0.1:9\">")
    );
    let csp = answer.header("content-security-policy").unwrap();
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:9;"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_browser_gets_a_page_for_an_unknown_address_and_api_clients_get_json() {
    let app = spawn_app().await;
    let html = [("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let page = app.request(Method::GET, "/no-such-page", &html, None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.header("content-security-policy").is_some());
    assert!(page.body.as_str().unwrap().contains("Page not found"));
    for (path, headers) in [
        ("/no-such-page", &[][..]),
        ("/api/no-such-route", &html[..]),
    ] {
        let answer = app.request(Method::GET, path, headers, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.code(), "NOT_FOUND", "{path}");
    }
}

#[tokio::test]
async fn the_qr_code_of_an_authenticator_key_is_computed_here_and_bad_input_is_refused() {
    let app = spawn_app().await;
    let uri = "otpauth://totp/Sigil:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Sigil&digits=6&period=30";
    let answer = app.post("/ui/qr", json!({ "text": uri })).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let size = answer.body["size"].as_u64().unwrap() as usize;
    let modules = answer.body["modules"].as_str().unwrap();
    // A QR code of version v is 17 + 4v modules wide; ~110 bytes at level M need version 6+.
    assert!(size >= 41 && (size - 17).is_multiple_of(4), "{size}");
    assert_eq!(modules.len(), size * size);
    assert!(modules.bytes().all(|b| b == b'0' || b == b'1'));
    // The three finder patterns: dark 7-module borders in the corners, light separators.
    let at = |x: usize, y: usize| modules.as_bytes()[y * size + x] == b'1';
    for i in 0..7 {
        for (x0, y0) in [(0, 0), (size - 7, 0), (0, size - 7)] {
            assert!(at(x0 + i, y0) && at(x0, y0 + i) && at(x0 + i, y0 + 6) && at(x0 + 6, y0 + i));
        }
        assert!(!at(7, i) && !at(size - 8, i) && !at(7, size - 1 - i));
    }
    for bad in [
        json!({}),
        json!({ "text": "" }),
        json!({ "text": 12 }),
        json!({ "text": "x".repeat(513) }),
    ] {
        let refused = app.post("/ui/qr", bad).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.code(), "VALIDATION_ERROR");
    }
}
