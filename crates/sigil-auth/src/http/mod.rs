//! The identity service's HTTP interface: Better Auth's `/api/auth/*` routes, plus the
//! cross-cutting defences every route gets (body cap, rate limit, origin check).

mod account;
mod admin;
mod body;
mod context;
pub mod openapi;
mod origin;
mod passkey;
mod recovery;
mod reply;
mod sessions;
mod sign;
mod social;
mod tokens;
mod two_factor;

pub use context::{Caller, Lookup};
pub use origin::TrustedOrigins;

pub use crate::accounts::AccountListener;

use crate::accounts::Accounts;
use crate::admin::Admin;
use crate::audit::{Audit, AuditEntry};
use crate::config::AuthConfig;
use crate::cookies::CookieJar;
use crate::error::ApiError;
use crate::jwt::{KeyLoadError, TokenIssuer};
use crate::mail::Mailer;
use crate::passkey::Passkeys;
use crate::password::PasswordHasher;
use crate::ratelimit::{RateLimiter, rule_for};
use crate::refresh::RefreshTokens;
use crate::revocation::{RevocationPublisher, Revocations};
use crate::session::Sessions;
use crate::store::AuthStore;
use crate::throttle::AccountThrottle;
use crate::two_factor::TwoFactor;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sigil_guard::SessionDenyList;
use sigil_guard::clock::SharedClock;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Base path of every identity route.
pub const BASE_PATH: &str = "/api/auth";

/// Everything the handlers share. The handlers reach storage only through the services
/// ([`Accounts`], [`Sessions`], [`RefreshTokens`]).
struct Inner {
    config: AuthConfig,
    accounts: Arc<Accounts>,
    admin: Admin,
    two_factor: TwoFactor,
    sessions: Sessions,
    refresh: RefreshTokens,
    social: crate::social::Social,
    passkeys: Passkeys,
    issuer: TokenIssuer,
    mailer: Arc<dyn Mailer>,
    cookies: CookieJar,
    /// Rate limiting (`None`: off).
    limiter: Option<RateLimiter>,
    /// Revoked sessions, shared with in-process guards.
    deny_list: Arc<SessionDenyList>,
    /// Origins allowed to make cookie-authenticated requests.
    trusted: TrustedOrigins,
    /// Told about deleted accounts.
    account_listener: Option<Arc<dyn AccountListener>>,
    /// Where an in-process guard looks up keys another instance created.
    key_source: Option<Arc<dyn sigil_guard::KeySource>>,
    /// Rotation and retirement of the signing keys.
    keys: crate::keys::KeyManager,
    /// Where the signing keys are reloaded from.
    store: Arc<dyn AuthStore>,
    clock: SharedClock,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The replaceable parts of the service.
pub struct Components {
    /// Storage.
    pub store: Arc<dyn AuthStore>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Rate limiter (in memory when `None` and rate limiting is on).
    pub limiter: Option<RateLimiter>,
    /// Announces revocations to other processes (Redis), if any.
    pub revocation_publisher: Option<Arc<dyn RevocationPublisher>>,
    /// Told when an account is deleted, so other components can erase the user's data.
    pub account_listener: Option<Arc<dyn AccountListener>>,
    /// Where the time comes from: `SystemClock` in production, a `ManualClock` in tests.
    pub clock: SharedClock,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Components").finish_non_exhaustive()
    }
}

/// The identity service. Cheap to clone.
#[derive(Clone)]
pub struct AuthService(Arc<Inner>);

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("base_url", &self.0.config.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl AuthService {
    /// Builds the service: loads (or creates) the signing key and wires the parts together.
    pub async fn new(config: AuthConfig, parts: Components) -> Result<AuthService, KeyLoadError> {
        let Components {
            store,
            mailer,
            hasher,
            limiter,
            revocation_publisher,
            account_listener,
            clock,
        } = parts;
        let issuer = TokenIssuer::load(store.as_ref(), &config, clock.clone()).await?;
        let deny_list = Arc::new(SessionDenyList::with_clock(clock.clone()));
        let revocations = Revocations::new(deny_list.clone(), revocation_publisher);
        let sessions = Sessions::new(
            store.clone(),
            config.session,
            revocations,
            config.jwt.ttl,
            clock.clone(),
        );
        let cookies = CookieJar::new(config.secure_cookies());
        let trusted = TrustedOrigins::new(&config.origin(), &config.trusted_origins);
        let throttle = config
            .account_throttle
            .map(|policy| AccountThrottle::new(policy, clock.clone()));
        let limiter = if config.rate_limit {
            limiter.or_else(|| Some(RateLimiter::memory()))
        } else {
            None
        };
        let audit = Audit::new(store.clone(), clock.clone());
        let admin = Admin::new(
            store.clone(),
            hasher.clone(),
            sessions.clone(),
            audit.clone(),
            config.admin.clone(),
            account_listener.clone(),
            clock.clone(),
        );
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            hasher,
            sessions.clone(),
            throttle,
            clock.clone(),
            config.require_email_verification,
            audit,
        ));
        let two_factor = TwoFactor::new(
            store.clone(),
            accounts.clone(),
            sessions.clone(),
            clock.clone(),
            config.secret.expose(),
            config.two_factor_issuer.clone(),
        );
        let refresh = RefreshTokens::new(
            store.clone(),
            sessions.clone(),
            issuer.clone(),
            config.session.refresh_token_ttl,
            clock.clone(),
        );
        let social = crate::social::Social::new(
            config.social_providers.clone(),
            store.clone(),
            sessions.clone(),
            clock.clone(),
            zeroize::Zeroizing::new(config.secret.expose().to_vec()),
            &config.base_url,
            format!(
                "{}{BASE_PATH}",
                config.base_url.as_str().trim_end_matches('/')
            ),
            config.social_timeout,
            config.require_email_verification,
        )
        .map_err(KeyLoadError::Social)?;
        let passkeys = Passkeys::new(store.clone(), sessions.clone(), &config, clock.clone());
        let key_source = issuer.key_source(store.clone());
        let keys = crate::keys::KeyManager::new(
            store.clone(),
            Audit::new(store.clone(), clock.clone()),
            config.jwt.alg,
            config.secret.expose(),
            config.jwt.ttl,
            config.jwt.grace,
            clock.clone(),
        );
        Ok(AuthService(Arc::new(Inner {
            config,
            accounts,
            admin,
            two_factor,
            sessions,
            refresh,
            social,
            passkeys,
            issuer,
            mailer,
            cookies,
            limiter,
            deny_list,
            trusted,
            account_listener,
            key_source,
            keys,
            store,
            clock,
        })))
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.0.config
    }

    /// Cookie names and attributes.
    pub fn cookies(&self) -> &CookieJar {
        &self.0.cookies
    }

    /// Where an in-process guard looks up keys it does not know (`None` in HS256 mode).
    pub fn key_source(&self) -> Option<Arc<dyn sigil_guard::KeySource>> {
        self.0.key_source.clone()
    }

    /// The configured social providers (id and display name), for the web UI's buttons.
    pub fn social_providers(&self) -> Vec<crate::social::ProviderInfo> {
        self.0.social.providers()
    }

    /// Whether passkeys work on this server (its base URL's host is a domain name).
    pub fn passkeys_enabled(&self) -> bool {
        self.0.passkeys.enabled()
    }

    /// The administrator operations (what `/admin/*` and the command line use).
    pub fn admin(&self) -> &Admin {
        &self.0.admin
    }

    /// The audit log: where other components record their security events.
    pub fn audit_log(&self) -> &Audit {
        self.0.admin.audit()
    }

    /// Records an audit event (see [`crate::audit`]).
    pub async fn audit(&self, entry: AuditEntry) {
        self.0.admin.audit().record(entry).await;
    }

    /// The rate limiter (`None`: rate limiting off).
    pub fn limiter(&self) -> Option<&RateLimiter> {
        self.0.limiter.as_ref()
    }

    /// The service's clock (for wiring guards and stores in the same process).
    pub fn clock(&self) -> SharedClock {
        self.0.clock.clone()
    }

    /// Milliseconds since the Unix epoch, by the service's clock.
    pub fn now_ms(&self) -> i64 {
        self.0.clock.now_ms()
    }

    /// Seconds since the Unix epoch, by the service's clock.
    pub fn now_unix(&self) -> u64 {
        self.0.clock.now_unix()
    }

    /// Signing-key rotation and retirement.
    pub fn keys(&self) -> &crate::keys::KeyManager {
        &self.0.keys
    }

    /// Reads the signing keys again (a rotation elsewhere, a replaced key whose window ended)
    /// and, with an automatic rotation interval, rotates when one is due. Servers call this
    /// every [`crate::keys::RELOAD_PERIOD`]; whether the keys in use changed.
    pub async fn refresh_keys(&self) -> Result<bool, crate::keys::KeyError> {
        if let Some(interval) = self.0.config.jwt.rotation_interval
            && !self.0.config.jwt.alg.is_symmetric()
        {
            self.0.keys.rotate_if_due(interval).await?;
        }
        Ok(self.0.issuer.reload(self.0.store.as_ref()).await?)
    }

    /// The JWT issuer (for wiring an in-process guard).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.0.issuer
    }

    /// The revoked-session list (for wiring an in-process guard).
    pub fn deny_list(&self) -> Arc<SessionDenyList> {
        self.0.deny_list.clone()
    }

    /// The `/api/auth/*` routes (described by [`openapi::document`]).
    pub fn router(&self) -> Router {
        // The one route list: what is served here is what `openapi::document` describes.
        let (routes, _) = routes().split_for_parts();
        let routes = routes
            .layer(middleware::from_fn_with_state(
                self.clone(),
                context::resend_slid_session,
            ))
            .layer(middleware::from_fn_with_state(self.clone(), defences))
            .layer(DefaultBodyLimit::max(self.0.config.max_body_bytes))
            .with_state(self.clone());
        Router::new().nest(BASE_PATH, routes)
    }

    /// Deletes expired rows, and audit rows past their retention; run periodically.
    pub async fn purge_expired(&self) -> Result<u64, crate::store::StoreError> {
        let purged = self.0.sessions.purge_expired().await?;
        let pruned = self
            .0
            .admin
            .audit()
            .prune(self.0.config.audit_retention)
            .await?;
        Ok(purged + pruned)
    }
}

/// A request path fit for logs: the segment after a `reset-password` segment (the single-use
/// token of a mailed reset link, `/api/auth/reset-password/{token}`) and everything after it is
/// replaced by `{token}`. Every other path is returned unchanged. (Query strings, where the other
/// links carry their tokens, are never logged.)
pub fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    let mut offset = 0;
    for segment in path.split('/') {
        offset += segment.len() + 1;
        if segment.eq_ignore_ascii_case("reset-password")
            || segment.eq_ignore_ascii_case("reset%2Dpassword")
        {
            if offset < path.len() {
                return format!("{}{{token}}", &path[..offset]).into();
            }
            break;
        }
    }
    path.into()
}

/// The route template a request matched, relative to [`BASE_PATH`] (`/reset-password/{token}`),
/// or `(unmatched)`: what rate-limit keys and logs name instead of the raw path, whose segments
/// the client chooses (and which may carry a single-use token).
fn route_template(request: &Request) -> &str {
    match request.extensions().get::<axum::extract::MatchedPath>() {
        Some(matched) => {
            let template = matched.as_str();
            template.strip_prefix(BASE_PATH).unwrap_or(template)
        }
        None => "(unmatched)",
    }
}

/// Rate limit, then origin/CSRF check, before any handler.
async fn defences(State(auth): State<AuthService>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if let Some(limiter) = &auth.0.limiter {
        let route = route_template(&request).to_owned();
        let client = context::client_info(&auth, request.headers(), request.extensions());
        let key = format!("{}|{route}", client.ip);
        if let Err(retry_after) = limiter.hit(&key, rule_for(&route)).await {
            tracing::info!(target: "sigil::auth", ip = %client.ip, %route, "rate limited");
            // The route template (a bounded set), never the client address.
            metrics::counter!("sigil_rate_limited_total", "route" => route).increment(1);
            return ApiError::too_many_requests(retry_after).into_response();
        }
    }
    if let Err(error) = origin::check(&auth.0.trusted, request.method(), &path, request.headers()) {
        return error.into_response();
    }
    next.run(request).await
}

/// The identity routes, relative to [`BASE_PATH`], as one `utoipa_axum` route list:
/// what the router serves and what the document describes.
pub(crate) fn routes() -> OpenApiRouter<AuthService> {
    use self::{account, admin, passkey, recovery, sessions, sign, social, tokens, two_factor};
    use utoipa_axum::routes;
    OpenApiRouter::new()
        .routes(routes!(sign::sign_up))
        .routes(routes!(sign::sign_in))
        .routes(routes!(sign::sign_out))
        .routes(routes!(sessions::get_session, sessions::get_session_post))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(sessions::revoke_sessions))
        .routes(routes!(sessions::revoke_other_sessions))
        .routes(routes!(account::update_user))
        .routes(routes!(account::change_password))
        .routes(routes!(account::change_email))
        .routes(routes!(account::delete_user))
        .routes(routes!(recovery::request_password_reset))
        .routes(routes!(recovery::reset_password_link))
        .routes(routes!(recovery::reset_password))
        .routes(routes!(recovery::send_verification_email))
        .routes(routes!(recovery::verify_email))
        .routes(routes!(social::sign_in_social))
        .routes(routes!(social::callback, social::callback_post))
        .routes(routes!(social::link_social))
        .routes(routes!(social::list_accounts))
        .routes(routes!(social::unlink_account))
        .routes(routes!(social::get_access_token))
        .routes(routes!(social::refresh_token))
        .routes(routes!(social::account_info))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::get_user))
        .routes(routes!(admin::create_user))
        .routes(routes!(admin::update_user))
        .routes(routes!(admin::set_role))
        .routes(routes!(admin::ban_user))
        .routes(routes!(admin::unban_user))
        .routes(routes!(admin::set_user_password))
        .routes(routes!(admin::list_user_sessions))
        .routes(routes!(admin::revoke_user_session))
        .routes(routes!(admin::revoke_user_sessions))
        .routes(routes!(admin::remove_user))
        .routes(routes!(admin::has_permission))
        .routes(routes!(admin::audit_log))
        .routes(routes!(two_factor::enable))
        .routes(routes!(two_factor::disable))
        .routes(routes!(two_factor::get_totp_uri))
        .routes(routes!(two_factor::verify_totp))
        .routes(routes!(two_factor::send_otp))
        .routes(routes!(two_factor::verify_otp))
        .routes(routes!(two_factor::verify_backup_code))
        .routes(routes!(two_factor::generate_backup_codes))
        .routes(routes!(tokens::token))
        .routes(routes!(tokens::jwks))
        .routes(routes!(tokens::refresh))
        .routes(routes!(passkey::generate_register_options))
        .routes(routes!(passkey::verify_registration))
        .routes(routes!(passkey::generate_authenticate_options))
        .routes(routes!(passkey::verify_authentication))
        .routes(routes!(passkey::list_user_passkeys))
        .routes(routes!(passkey::update_passkey))
        .routes(routes!(passkey::delete_passkey))
        .routes(routes!(tokens::ok))
        .routes(routes!(tokens::error_page))
}

#[cfg(test)]
mod tests {
    use super::redact_path;

    #[test]
    fn paths_lose_their_reset_tokens() {
        for (path, logged) in [
            (
                "/api/auth/reset-password/abc123",
                "/api/auth/reset-password/{token}",
            ),
            (
                "/api/auth/reset-password/abc/extra",
                "/api/auth/reset-password/{token}",
            ),
            (
                "/api/auth//Reset-Password/abc",
                "/api/auth//Reset-Password/{token}",
            ),
            ("/api/auth/reset-password", "/api/auth/reset-password"),
            ("/api/auth/reset-password/", "/api/auth/reset-password/"),
            ("/reset-password", "/reset-password"),
            ("/api/u1/tasks/t1", "/api/u1/tasks/t1"),
        ] {
            assert_eq!(redact_path(path), logged, "{path}");
        }
    }
}
