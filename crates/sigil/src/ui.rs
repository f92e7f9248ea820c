//! The web UI served by `sigil serve` and `sigil serve-auth`: a few HTML pages and the CSS and
//! JavaScript they use, embedded in the binary (no CDN, nothing fetched at run time).
//!
//! | path | page | who |
//! |---|---|---|
//! | `/` | redirects to `/tasks` or `/sign-in` | anyone |
//! | `/sign-in`, `/sign-up` | the forms (redirect to `/tasks` when already signed in) | signed out |
//! | `/tasks`, `/tasks/{id}` | the task list, one task | signed in |
//! | `/account` | name, password, sessions, sign out | signed in |
//! | `/forgot-password`, `/reset-password`, `/verify-email` | password reset, email verification | anyone |
//! | `/assets/{version}/{file}` | CSS, JavaScript, icon | anyone |
//!
//! The pages are static shells; `ui/assets/app.js` does the work in the browser, following the
//! front-end flow of the spec: the session cookie stays on `/api/auth/*`, a JWT from
//! `/api/auth/token` is held in memory only and sent to the tasks API as `Authorization: Bearer`.
//!
//! Security decisions, for review:
//! * Every page carries a strict Content-Security-Policy: scripts and styles only from this origin
//!   (nothing inline, no `eval`), `connect-src` this origin plus the tasks API's origin when it
//!   runs elsewhere (`SIGIL_API_URL`), no framing (`frame-ancestors 'none'` and
//!   `X-Frame-Options: DENY`), no `<base>`, forms only to this origin. With nothing inline allowed,
//!   injected markup cannot run script, which is what keeps the in-memory JWT out of reach.
//! * `X-Content-Type-Options: nosniff` on everything; `Referrer-Policy: same-origin` (reset links
//!   carry a token in the query); `Cross-Origin-Opener-Policy: same-origin`; pages are
//!   `Cache-Control: no-store` (their redirects depend on the session).
//! * Pages for signed-in users redirect to `/sign-in` when the request has no live session, so a
//!   signed-out browser never renders them. A page is only a shell: the API decides everything.
//! * Assets live under a content hash (`/assets/<version>/…`) and are cached for a year as
//!   `immutable`; a request naming another version gets the current file with `no-cache`.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sigil_auth::AuthService;
use sigil_auth::http::Lookup;
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

/// Who may see a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Everyone.
    Anyone,
    /// Signed-in users; others are sent to `/sign-in?next=…`.
    SignedIn,
    /// Signed-out visitors; signed-in users are sent to `/tasks`.
    SignedOut,
}

/// The frame around a page's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// A centred card under the logo (sign-in, sign-up, recovery).
    Card,
    /// The application: top bar with navigation and the user's name.
    App,
}

/// One page: its name (`data-page`, the module that runs it), title, access and content.
#[derive(Debug)]
struct PageDef {
    name: &'static str,
    title: &'static str,
    access: Access,
    layout: Layout,
    body: &'static str,
}

const PAGES: &[PageDef] = &[
    PageDef {
        name: "sign-in",
        title: "Sign in",
        access: Access::SignedOut,
        layout: Layout::Card,
        body: include_str!("../ui/pages/sign-in.html"),
    },
    PageDef {
        name: "sign-up",
        title: "Create your account",
        access: Access::SignedOut,
        layout: Layout::Card,
        body: include_str!("../ui/pages/sign-up.html"),
    },
    PageDef {
        name: "forgot-password",
        title: "Reset your password",
        access: Access::Anyone,
        layout: Layout::Card,
        body: include_str!("../ui/pages/forgot-password.html"),
    },
    PageDef {
        name: "reset-password",
        title: "Choose a new password",
        access: Access::Anyone,
        layout: Layout::Card,
        body: include_str!("../ui/pages/reset-password.html"),
    },
    PageDef {
        name: "verify-email",
        title: "Email verification",
        access: Access::Anyone,
        layout: Layout::Card,
        body: include_str!("../ui/pages/verify-email.html"),
    },
    PageDef {
        name: "tasks",
        title: "Tasks",
        access: Access::SignedIn,
        layout: Layout::App,
        body: include_str!("../ui/pages/tasks.html"),
    },
    PageDef {
        name: "task",
        title: "Task",
        access: Access::SignedIn,
        layout: Layout::App,
        body: include_str!("../ui/pages/task.html"),
    },
    PageDef {
        name: "not-found",
        title: "Page not found",
        access: Access::Anyone,
        layout: Layout::Card,
        body: include_str!("../ui/pages/not-found.html"),
    },
    PageDef {
        name: "account",
        title: "Account",
        access: Access::SignedIn,
        layout: Layout::App,
        body: include_str!("../ui/pages/account.html"),
    },
];

/// A static file under `/assets/<version>/`.
#[derive(Debug)]
struct AssetDef {
    file: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[AssetDef] = &[
    AssetDef {
        file: "sigil.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../ui/assets/sigil.css"),
    },
    AssetDef {
        file: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../ui/assets/favicon.svg"),
    },
    AssetDef {
        file: "app.js",
        content_type: JS,
        body: include_str!("../ui/assets/app.js"),
    },
    AssetDef {
        file: "api.js",
        content_type: JS,
        body: include_str!("../ui/assets/api.js"),
    },
    AssetDef {
        file: "dom.js",
        content_type: JS,
        body: include_str!("../ui/assets/dom.js"),
    },
    AssetDef {
        file: "messages.js",
        content_type: JS,
        body: include_str!("../ui/assets/messages.js"),
    },
    AssetDef {
        file: "auth-pages.js",
        content_type: JS,
        body: include_str!("../ui/assets/auth-pages.js"),
    },
    AssetDef {
        file: "tasks.js",
        content_type: JS,
        body: include_str!("../ui/assets/tasks.js"),
    },
    AssetDef {
        file: "social.js",
        content_type: JS,
        body: include_str!("../ui/assets/social.js"),
    },
    AssetDef {
        file: "account.js",
        content_type: JS,
        body: include_str!("../ui/assets/account.js"),
    },
    AssetDef {
        file: "passkeys.js",
        content_type: JS,
        body: include_str!("../ui/assets/passkeys.js"),
    },
    AssetDef {
        file: "two-factor.js",
        content_type: JS,
        body: include_str!("../ui/assets/two-factor.js"),
    },
];

const LOGO: &str = include_str!("../ui/assets/logo.svg");

/// A rendered page.
#[derive(Debug)]
struct Page {
    access: Access,
    html: String,
}

/// A served asset with its validator.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    body: &'static str,
    etag: HeaderValue,
}

#[derive(Debug)]
struct Inner {
    auth: AuthService,
    pages: HashMap<&'static str, Page>,
    assets: HashMap<&'static str, Asset>,
    version: String,
    csp: HeaderValue,
}

#[derive(Clone, Debug)]
struct UiState(Arc<Inner>);

/// The UI routes. `api_url` is where the browser finds the tasks API when it is served from
/// another origin (`serve-auth` with `SIGIL_API_URL`); `None` means this origin.
pub fn router(auth: AuthService, api_url: Option<&Url>) -> Router {
    let version = assets_version();
    let api_base = api_url
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let providers = serde_json::to_string(&auth.social_providers()).unwrap_or_else(|_| "[]".into());
    let pages = PAGES
        .iter()
        .map(|def| {
            let html = render(def, &version, &api_base, &providers);
            (
                def.name,
                Page {
                    access: def.access,
                    html,
                },
            )
        })
        .collect();
    let assets = ASSETS
        .iter()
        .map(|a| {
            let hash = sigil_auth::crypto::sha256_hex(a.body);
            let etag = HeaderValue::from_str(&format!("\"{}\"", &hash[..16]))
                .unwrap_or(HeaderValue::from_static("\"0\""));
            (
                a.file,
                Asset {
                    content_type: a.content_type,
                    body: a.body,
                    etag,
                },
            )
        })
        .collect();
    let csp = content_security_policy(api_url);
    let state = UiState(Arc::new(Inner {
        auth,
        pages,
        assets,
        version,
        csp,
    }));
    let page = |name: &'static str| {
        move |State(state): State<UiState>, request: Request| async move {
            serve_page(&state, name, request).await
        }
    };
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(page("sign-in")))
        .route("/sign-up", get(page("sign-up")))
        .route("/forgot-password", get(page("forgot-password")))
        .route("/reset-password", get(page("reset-password")))
        .route("/verify-email", get(page("verify-email")))
        .route("/tasks", get(page("tasks")))
        .route("/tasks/{id}", get(page("task")))
        .route("/account", get(page("account")))
        .route("/assets/{version}/{file}", get(asset))
        .route(
            "/ui/qr",
            post(qr_code).layer(axum::extract::DefaultBodyLimit::max(QR_BODY_LIMIT)),
        )
        .with_state(state)
}

/// The answer to a browser navigating to a page that does not exist (a `GET` outside `/api/` that
/// accepts HTML): a 404 page with a way back. `None` for everything else, which gets the JSON 404.
pub fn not_found_page(request: &Request) -> Option<Response> {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let wants_html = request
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let is_page = matches!(*request.method(), http::Method::GET | http::Method::HEAD)
        && !request.uri().path().starts_with("/api/");
    if !(wants_html && is_page) {
        return None;
    }
    let html = PAGE.get_or_init(|| {
        let def = PAGES.iter().find(|p| p.name == "not-found");
        def.map(|d| render(d, &assets_version(), "", "[]"))
            .unwrap_or_default()
    });
    let mut response = (StatusCode::NOT_FOUND, html.clone()).into_response();
    let headers = response.headers_mut();
    insert(headers, CONTENT_TYPE, "text/html; charset=utf-8");
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        content_security_policy(None),
    );
    insert(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(headers, X_FRAME_OPTIONS, "DENY");
    insert(headers, REFERRER_POLICY, "same-origin");
    insert(headers, CACHE_CONTROL, "no-store");
    Some(response)
}

/// Largest body `/ui/qr` reads.
const QR_BODY_LIMIT: usize = 2048;
/// Longest text `/ui/qr` encodes (an `otpauth://` URI is about 120 characters).
const QR_MAX_TEXT: usize = 512;

/// `POST /ui/qr {"text": …}` → `{"size": n, "modules": "0110…"}`: the modules of a QR code
/// (error correction M), row by row, for the account page to draw as an image. The set-up of an
/// authenticator app needs its key as a QR code; computing it here keeps the key away from any
/// other site, and the page draws it without markup from the server. Stateless, nothing logged,
/// `no-store`.
async fn qr_code(body: bytes::Bytes) -> Response {
    let text = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("text")?.as_str().map(str::to_owned))
        .filter(|t| !t.is_empty() && t.len() <= QR_MAX_TEXT);
    let code = text.and_then(|t| {
        qrcode::QrCode::with_error_correction_level(t.as_bytes(), qrcode::EcLevel::M).ok()
    });
    let Some(code) = code else {
        let body = serde_json::json!({
            "message": format!("[body.text] expected a string of 1 to {QR_MAX_TEXT} bytes"),
            "code": "VALIDATION_ERROR",
        });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let modules: String = code
        .to_colors()
        .iter()
        .map(|c| if *c == qrcode::Color::Dark { '1' } else { '0' })
        .collect();
    let body = serde_json::json!({ "size": code.width(), "modules": modules });
    let mut response = axum::Json(body).into_response();
    insert(response.headers_mut(), CACHE_CONTROL, "no-store");
    response
}

/// The Content-Security-Policy of every page.
fn content_security_policy(api_url: Option<&Url>) -> HeaderValue {
    let mut connect = String::from("'self'");
    if let Some(url) = api_url {
        let origin = url.origin().ascii_serialization();
        if origin != "null" {
            connect.push(' ');
            connect.push_str(&origin);
        }
    }
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
         manifest-src 'self'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
}

/// A short hash of every asset: the `/assets/<version>/` path segment.
fn assets_version() -> String {
    let all: String = ASSETS.iter().map(|a| a.body).collect();
    sigil_auth::crypto::sha256_hex(&all)[..12].to_owned()
}

fn escape_attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A page: `providers` is the JSON list of configured social providers (`[{id, name}]`) that the
/// sign-in, sign-up and account pages turn into "Continue with …" buttons.
fn render(def: &PageDef, version: &str, api_base: &str, providers: &str) -> String {
    let assets = format!("/assets/{version}");
    let header = match def.layout {
        Layout::Card => format!(
            "<header class=\"card-brand\"><a class=\"brand\" href=\"/\">{LOGO}<span>Sigil</span></a></header>"
        ),
        Layout::App => {
            let current = |section: &str| {
                let active = match def.name {
                    "tasks" | "task" => "tasks",
                    other => other,
                };
                if active == section {
                    " aria-current=\"page\""
                } else {
                    ""
                }
            };
            format!(
                "<header class=\"topbar\"><div class=\"topbar-inner\">\
                 <a class=\"brand\" href=\"/tasks\">{LOGO}<span>Sigil</span></a>\
                 <nav class=\"mainnav\" aria-label=\"Main\"><ul>\
                 <li><a href=\"/tasks\"{}>Tasks</a></li>\
                 <li><a href=\"/account\"{}>Account</a></li></ul></nav>\
                 <div class=\"whoami\"><span class=\"whoami-name\" data-user-name></span>\
                 <button type=\"button\" class=\"btn btn-quiet\" data-action=\"sign-out\">Sign out</button></div>\
                 </div></header>",
                current("tasks"),
                current("account"),
            )
        }
    };
    let layout = match def.layout {
        Layout::Card => "layout-card",
        Layout::App => "layout-app",
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"sigil-api\" content=\"{api}\">\n\
         <meta name=\"sigil-providers\" content=\"{providers}\">\n\
         <title>{title} · Sigil</title>\n\
         <link rel=\"icon\" href=\"{assets}/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"{assets}/sigil.css\">\n\
         <script type=\"module\" src=\"{assets}/app.js\"></script>\n\
         </head>\n<body class=\"{layout}\" data-page=\"{name}\">\n\
         <a class=\"skip-link\" href=\"#main\">Skip to main content</a>\n{header}\n\
         <main id=\"main\" tabindex=\"-1\">\n{body}\n\
         <noscript><p class=\"alert alert-error\">Sigil's pages need JavaScript. Turn it on and reload.</p></noscript>\n\
         </main>\n</body>\n</html>\n",
        api = escape_attr(api_base),
        providers = escape_attr(providers),
        title = def.title,
        name = def.name,
        body = def.body.trim_end(),
    )
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

/// The security headers of every page (see the module documentation).
fn page_headers(state: &UiState, headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        state.0.csp.clone(),
    );
    insert(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(headers, X_FRAME_OPTIONS, "DENY");
    insert(headers, REFERRER_POLICY, "same-origin");
    insert(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    insert(
        headers,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    insert(headers, CACHE_CONTROL, "no-store");
}

/// Whether the request has a live session; a dead one's cookies are expired in `response`.
async fn session_state(state: &UiState, headers: &HeaderMap) -> (bool, Vec<String>) {
    match state.0.auth.lookup(headers).await {
        Ok(Lookup::Live(_)) => (true, Vec::new()),
        Ok(Lookup::Dead) => (false, state.0.auth.cookies().expire_all().to_vec()),
        Ok(Lookup::Anonymous) => (false, Vec::new()),
        Err(error) => {
            // The page is only a shell: serve it and let the API answer the script.
            tracing::warn!(target: "sigil::ui", code = error.code(), "session lookup failed");
            (false, Vec::new())
        }
    }
}

fn with_cookies(mut response: Response, cookies: Vec<String>) -> Response {
    for line in cookies {
        if let Ok(v) = HeaderValue::from_str(&line) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}

/// `/`: to the tasks when signed in, else to sign-in.
async fn home(State(state): State<UiState>, headers: HeaderMap) -> Response {
    let (live, cookies) = session_state(&state, &headers).await;
    let target = if live { "/tasks" } else { "/sign-in" };
    let mut response = Redirect::to(target).into_response();
    insert(response.headers_mut(), CACHE_CONTROL, "no-store");
    with_cookies(response, cookies)
}

async fn serve_page(state: &UiState, name: &'static str, request: Request) -> Response {
    let Some(page) = state.0.pages.get(name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (live, cookies) = if page.access == Access::Anyone {
        (false, Vec::new())
    } else {
        session_state(state, request.headers()).await
    };
    let redirect = match page.access {
        Access::SignedIn if !live => Some(sign_in_url(request.uri())),
        Access::SignedOut if live => Some("/tasks".to_owned()),
        _ => None,
    };
    let mut response = match redirect {
        Some(target) => Redirect::to(&target).into_response(),
        None => {
            let mut r = page.html.clone().into_response();
            insert(r.headers_mut(), CONTENT_TYPE, "text/html; charset=utf-8");
            r
        }
    };
    page_headers(state, response.headers_mut());
    with_cookies(response, cookies)
}

/// `/sign-in?next=<the page asked for>`.
fn sign_in_url(uri: &http::Uri) -> String {
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/tasks");
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/sign-in?next={encoded}")
}

async fn asset(
    State(state): State<UiState>,
    Path((version, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = state.0.assets.get(file.as_str()) else {
        return (
            StatusCode::NOT_FOUND,
            [(X_CONTENT_TYPE_OPTIONS, "nosniff")],
            "Not found",
        )
            .into_response();
    };
    let cache = if version == state.0.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == asset.etag)
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        insert(r.headers_mut(), CONTENT_TYPE, asset.content_type);
        r
    };
    let h = response.headers_mut();
    h.insert(ETAG, asset.etag.clone());
    insert(h, CACHE_CONTROL, cache);
    insert(h, X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_with_its_assets_and_nothing_inline() {
        for def in PAGES {
            let html = render(
                def,
                "v1",
                "https://api.example.com",
                r#"[{"id":"g","name":"<Google>"}]"#,
            );
            assert!(html.contains("<meta name=\"sigil-api\" content=\"https://api.example.com\">"));
            assert!(html.contains(
                "<meta name=\"sigil-providers\" content=\"[{&quot;id&quot;:&quot;g&quot;,&quot;name&quot;:&quot;&lt;Google&gt;&quot;}]\">"
            ));
            assert!(html.contains("src=\"/assets/v1/app.js\""));
            assert!(html.contains(&format!("data-page=\"{}\"", def.name)));
            assert!(!html.contains("<script>"), "{}: inline script", def.name);
            assert!(!html.contains("style=\""), "{}: inline style", def.name);
            assert!(!html.contains("onclick"), "{}: inline handler", def.name);
        }
    }

    #[test]
    fn the_policy_names_the_api_origin_only_in_split_mode() {
        let same = content_security_policy(None);
        assert!(same.to_str().unwrap_or("").contains("connect-src 'self';"));
        let url = Url::parse("https://api.example.com:8443/base/").ok();
        let split = content_security_policy(url.as_ref());
        assert!(
            split
                .to_str()
                .unwrap_or("")
                .contains("connect-src 'self' https://api.example.com:8443;")
        );
    }

    #[test]
    fn next_keeps_the_path_and_query() {
        let uri: http::Uri = "/tasks?status=pending".parse().unwrap_or_default();
        assert_eq!(
            sign_in_url(&uri),
            "/sign-in?next=%2Ftasks%3Fstatus%3Dpending"
        );
    }
}
