//! The OpenAPI 3.1 description of the identity routes, generated from the code with `utoipa`.
//!
//! Every handler carries a `#[utoipa::path]` attribute, and [`AuthService::router`] is built
//! from the same `utoipa_axum` route list as the document (`routes`), so a route cannot be
//! served without being described, nor described without being served. The bodies the handlers
//! answer with are the types below: [`UserBody`] and [`SessionBody`] are what `user_json` and
//! `session_json` serialise; the others describe the small `{status}`-style answers. The
//! response schemas refuse unknown members (`additionalProperties: false`), so the integration
//! test that validates real answers against the document (`crates/sigil/tests/api/openapi.rs`)
//! fails when a handler adds or drops a member without the document following.
//!
//! The errors every identity route can give whatever it does (the body cap, the rate limiter and
//! the origin check run before any handler: 400, 403, 413, 429; 500 on a storage fault) are
//! added by [`add_common_errors`], and 401 to every operation that needs a session.
//!
//! [`AuthService::router`]: super::AuthService::router

use super::AuthService;
use crate::domain::iso8601;
use crate::store::{Session, User};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

/// Name of the security scheme: the signed session cookie.
pub const SESSION_COOKIE: &str = "sessionCookie";
/// Name of the security scheme: `Authorization: Bearer <session token>` (Better Auth's bearer
/// plugin; the `set-auth-token` header of a sign-in gives the token).
pub const SESSION_BEARER: &str = "sessionToken";
/// OpenAPI tag of the identity routes.
pub const TAG: &str = "identity";
/// OpenAPI tag of the admin plugin routes.
pub const ADMIN_TAG: &str = "admin";

/// The Better Auth error shape every refusal has.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Machine-readable code (`INVALID_EMAIL_OR_PASSWORD`, `UNAUTHORIZED`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// A user as Better Auth serialises it (what every identity answer carrying a user holds).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserBody {
    /// Random 32-character id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Canonical (lower-case) email.
    pub email: String,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Avatar URL.
    #[schema(required)]
    pub image: Option<String>,
    /// Creation time, ISO 8601.
    pub created_at: String,
    /// Last update, ISO 8601.
    pub updated_at: String,
    /// Comma-separated roles (`user` by default).
    pub role: String,
    /// Whether the user is banned.
    pub banned: bool,
    /// Why, when banned.
    #[schema(required)]
    pub ban_reason: Option<String>,
    /// When the ban lifts, ISO 8601 (`null`: never).
    #[schema(required)]
    pub ban_expires: Option<String>,
    /// Whether sign-in asks for a second factor.
    pub two_factor_enabled: bool,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> UserBody {
        UserBody {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            image: user.image.clone(),
            created_at: iso8601(user.created_at),
            updated_at: iso8601(user.updated_at),
            role: user.role.clone(),
            banned: user.banned,
            ban_reason: user.ban_reason.clone(),
            ban_expires: user.ban_expires.map(iso8601),
            two_factor_enabled: user.two_factor_enabled,
        }
    }
}

/// A session as Better Auth serialises it. `token` is the raw token for the caller's own session;
/// for other sessions the session id (Sigil keeps no other session's token).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionBody {
    /// Session id.
    pub id: String,
    /// The caller's own session token, or another session's id.
    pub token: String,
    /// Owner.
    pub user_id: String,
    /// Expiry, ISO 8601.
    pub expires_at: String,
    /// Creation time, ISO 8601.
    pub created_at: String,
    /// Last update, ISO 8601.
    pub updated_at: String,
    /// Client address at sign-in (empty when unknown).
    pub ip_address: String,
    /// Client user agent at sign-in (empty when unknown).
    pub user_agent: String,
}

impl SessionBody {
    /// The serialised form of `session`, showing `token`.
    pub fn new(session: &Session, token: &str) -> SessionBody {
        SessionBody {
            id: session.id.clone(),
            token: token.to_owned(),
            user_id: session.user_id.clone(),
            expires_at: iso8601(session.expires_at),
            created_at: iso8601(session.created_at),
            updated_at: iso8601(session.updated_at),
            ip_address: session.ip_address.clone(),
            user_agent: session.user_agent.clone(),
        }
    }
}

/// Declares a response body schema: `Serialize` (to keep serde's container attributes) and
/// `ToSchema`, camelCase members, unknown members refused.
macro_rules! body {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Serialize, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }
    };
}

/// Declares a request body schema: camelCase members, unknown members allowed (ignored by the
/// handlers, as Better Auth does).
macro_rules! request {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Serialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }
    };
}

body!(
    /// `{status: true}`.
    StatusReply { status: bool }
);
body!(
    /// `{success: true}`.
    SuccessReply { success: bool }
);
body!(
    /// `{status, message}`.
    StatusMessageReply { status: bool, message: String }
);
body!(
    /// `{success, message}`.
    SuccessMessageReply { success: bool, message: String }
);
body!(
    /// A session token (`null` when no session was created: email verification pending) and
    /// its user.
    TokenUserReply {
        #[schema(required)]
        token: Option<String>,
        user: UserBody,
    }
);
body!(
    /// A signed-in answer: a session and its user.
    SessionUserReply { session: SessionBody, user: UserBody }
);
body!(
    /// `POST /sign-in/email` when no second factor is needed.
    SignInReply {
        redirect: bool,
        token: String,
        user: UserBody,
        /// The `callbackURL` given, echoed.
        #[schema(nullable = false)]
        url: Option<String>,
        /// With `requestRefreshToken: true` (Sigil extension).
        #[schema(nullable = false)]
        refresh_token: Option<String>,
    }
);
body!(
    /// `POST /sign-in/email` when the account has two-factor authentication: no session yet,
    /// the `two_factor` challenge cookie is set.
    TwoFactorRedirect {
        two_factor_redirect: bool,
        two_factor_methods: Vec<String>,
    }
);

/// The answer of `POST /sign-in/email`.
// A schema only (the handler builds the JSON), never a value: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInAnswer {
    /// Signed in.
    SignedIn(SignInReply),
    /// A second factor is needed.
    TwoFactor(TwoFactorRedirect),
}

body!(
    /// `{token}`: a JWT for the current session.
    JwtReply { token: String }
);
body!(
    /// `POST /refresh`: a new JWT and refresh token.
    RefreshReply {
        token: String,
        refresh_token: String,
        token_type: String,
        expires_in: u64,
    }
);
body!(
    /// `{ok: true}`.
    OkReply { ok: bool }
);

/// One public key (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwk {
    /// Key type (`OKP`, `EC`, `RSA`).
    pub kty: String,
    /// Key id.
    #[schema(nullable = false)]
    pub kid: Option<String>,
    /// Algorithm.
    #[schema(nullable = false)]
    pub alg: Option<String>,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(nullable = false)]
    pub use_: Option<String>,
}

/// `GET /jwks`: the public keys that verify this service's tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwksReply {
    /// The keys.
    pub keys: Vec<Jwk>,
}

body!(
    /// `GET /verify-email` without a callback.
    VerifyEmailReply {
        status: bool,
        #[schema(required)]
        user: Option<UserBody>,
    }
);
body!(
    /// `POST /sign-in/social` or `/link-social` starting a redirect flow.
    RedirectUrlReply { url: String, redirect: bool }
);
body!(
    /// `POST /sign-in/social` with an `idToken`: signed in at once.
    SocialSignedIn {
        redirect: bool,
        token: String,
        user: UserBody,
    }
);

/// The answer of `POST /sign-in/social`.
// A schema only (the handler builds the JSON), never a value: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SocialSignInAnswer {
    /// Go to the provider.
    Redirect(RedirectUrlReply),
    /// Signed in with an ID token.
    SignedIn(SocialSignedIn),
}

body!(
    /// `POST /link-social` with an `idToken`: linked at once.
    LinkedReply {
        url: String,
        status: bool,
        redirect: bool,
    }
);

/// The answer of `POST /link-social`.
// A schema only (the handler builds the JSON), never a value: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LinkSocialAnswer {
    /// Go to the provider.
    Redirect(RedirectUrlReply),
    /// Linked with an ID token.
    Linked(LinkedReply),
}

body!(
    /// One way to sign in (`credential`: the password).
    AccountBody {
        id: String,
        provider_id: String,
        account_id: String,
        user_id: String,
        scopes: Vec<String>,
        created_at: String,
        updated_at: String,
    }
);
body!(
    /// `POST /get-access-token`.
    AccessTokenReply {
        access_token: String,
        #[schema(required)]
        access_token_expires_at: Option<String>,
        scopes: Vec<String>,
        #[schema(required)]
        id_token: Option<String>,
    }
);
body!(
    /// `POST /refresh-token`.
    ProviderRefreshReply {
        access_token: String,
        #[schema(required)]
        access_token_expires_at: Option<String>,
        #[schema(required)]
        refresh_token_expires_at: Option<String>,
        scope: String,
        #[schema(required)]
        id_token: Option<String>,
        provider_id: String,
        account_id: String,
    }
);
body!(
    /// The provider's profile.
    ProviderProfile {
        id: String,
        #[schema(required)]
        name: Option<String>,
        #[schema(required)]
        email: Option<String>,
        #[schema(required)]
        image: Option<String>,
        email_verified: bool,
    }
);
body!(
    /// The account a profile belongs to.
    AccountRef {
        id: String,
        provider_id: String,
        account_id: String,
    }
);
body!(
    /// `GET /account-info`.
    AccountInfoReply {
        user: ProviderProfile,
        /// The provider's raw profile claims.
        #[schema(value_type = Object)]
        data: Value,
        account: AccountRef,
    }
);
body!(
    /// `GET /admin/list-users`.
    UserListReply {
        users: Vec<UserBody>,
        total: u64,
        limit: u64,
        offset: u64,
    }
);
body!(
    /// `{user}`.
    UserReply { user: UserBody }
);
body!(
    /// `POST /admin/list-user-sessions`.
    SessionListReply { sessions: Vec<SessionBody> }
);
body!(
    /// `POST /admin/has-permission`.
    PermissionReply {
        /// Always `null`.
        #[schema(required, value_type = Option<String>)]
        error: Option<String>,
        success: bool,
    }
);
body!(
    /// One audit event.
    AuditEventBody {
        id: String,
        at: String,
        event: String,
        outcome: String,
        #[schema(required)]
        user_id: Option<String>,
        #[schema(required)]
        actor_id: Option<String>,
        #[schema(required)]
        session_id: Option<String>,
        #[schema(required)]
        ip_address: Option<String>,
        #[schema(required)]
        user_agent: Option<String>,
        /// Event-specific details (never a secret).
        #[schema(required, value_type = Option<Object>)]
        detail: Value,
    }
);
body!(
    /// `GET /admin/audit-log`.
    AuditLogReply { events: Vec<AuditEventBody> }
);
body!(
    /// `POST /two-factor/enable` with TOTP.
    TotpEnabledReply {
        method: String,
        #[serde(rename = "totpURI")]
        totp_uri: String,
        backup_codes: Vec<String>,
    }
);
body!(
    /// `POST /two-factor/enable` with the mailed one-time code.
    OtpEnabledReply { method: String }
);

/// The answer of `POST /two-factor/enable`.
// A schema only (the handler builds the JSON), never a value: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TwoFactorEnabled {
    /// TOTP: the key URI and backup codes.
    Totp(TotpEnabledReply),
    /// Mailed codes.
    Otp(OtpEnabledReply),
}

body!(
    /// `POST /two-factor/get-totp-uri`.
    TotpUriReply {
        #[serde(rename = "totpURI")]
        totp_uri: String,
    }
);
body!(
    /// `POST /two-factor/generate-backup-codes`.
    BackupCodesReply {
        status: bool,
        backup_codes: Vec<String>,
    }
);
body!(
    /// A passkey.
    PasskeyBody {
        id: String,
        #[schema(required)]
        name: Option<String>,
        public_key: String,
        user_id: String,
        #[serde(rename = "credentialID")]
        credential_id: String,
        counter: i64,
        device_type: String,
        backed_up: bool,
        #[schema(required)]
        transports: Option<String>,
        created_at: String,
        /// Always `null`.
        #[schema(required, value_type = Option<String>)]
        aaguid: Option<String>,
    }
);
body!(
    /// `POST /passkey/update-passkey`.
    PasskeyReply { passkey: PasskeyBody }
);

/// WebAuthn creation or request options (`PublicKeyCredentialCreationOptionsJSON` /
/// `PublicKeyCredentialRequestOptionsJSON`), as webauthn-rs builds them.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebAuthnOptions {
    /// The challenge, base64url.
    pub challenge: String,
}

request!(
    /// `POST /sign-up/email`.
    SignUpRequest {
        name: String,
        email: String,
        password: String,
        image: Option<String>,
        #[serde(rename = "callbackURL")]
        callback_url: Option<String>,
        remember_me: Option<bool>,
    }
);
request!(
    /// `POST /sign-in/email`.
    SignInRequest {
        email: String,
        password: String,
        remember_me: Option<bool>,
        #[serde(rename = "callbackURL")]
        callback_url: Option<String>,
        /// Sigil extension: also answer a refresh token.
        request_refresh_token: Option<bool>,
    }
);
request!(
    /// An empty (or absent) JSON object.
    EmptyRequest {}
);
request!(
    /// `POST /revoke-session`.
    TokenRequest { token: String }
);
request!(
    /// `POST /update-user`.
    UpdateUserRequest {
        name: Option<String>,
        image: Option<String>,
    }
);
request!(
    /// `POST /change-password`.
    ChangePasswordRequest {
        current_password: String,
        new_password: String,
        revoke_other_sessions: Option<bool>,
    }
);
request!(
    /// `POST /change-email`.
    ChangeEmailRequest {
        new_email: String,
        #[serde(rename = "callbackURL")]
        callback_url: Option<String>,
    }
);
request!(
    /// `POST /delete-user`.
    DeleteUserRequest { password: Option<String> }
);
request!(
    /// `POST /request-password-reset`.
    PasswordResetRequest {
        email: String,
        redirect_to: Option<String>,
    }
);
request!(
    /// `POST /reset-password`.
    ResetPasswordRequest { new_password: String, token: String }
);
request!(
    /// `POST /send-verification-email`.
    SendVerificationRequest {
        email: String,
        #[serde(rename = "callbackURL")]
        callback_url: Option<String>,
    }
);
request!(
    /// `POST /sign-in/social` and `/link-social`.
    SocialRequest {
        provider: String,
        #[serde(rename = "callbackURL")]
        callback_url: Option<String>,
        #[serde(rename = "errorCallbackURL")]
        error_callback_url: Option<String>,
        #[serde(rename = "newUserCallbackURL")]
        new_user_callback_url: Option<String>,
        disable_redirect: Option<bool>,
        scopes: Option<Vec<String>>,
        /// Sign in (or link) at once with a provider ID token.
        #[schema(value_type = Option<Object>)]
        id_token: Option<Value>,
    }
);
request!(
    /// `{accountId}`.
    AccountIdRequest { account_id: String }
);
request!(
    /// `POST /refresh`.
    RefreshRequest { refresh_token: String }
);
request!(
    /// `POST /admin/create-user`.
    CreateUserRequest {
        email: String,
        password: Option<String>,
        name: String,
        /// A role or a list of roles.
        #[schema(value_type = Option<Object>)]
        role: Option<Value>,
        /// `image`, `emailVerified`, `role`.
        #[schema(value_type = Option<Object>)]
        data: Option<Value>,
    }
);
request!(
    /// `POST /admin/update-user`.
    AdminUpdateUserRequest {
        user_id: String,
        /// `name`, `image`, `email`, `emailVerified`, `role`, `banned`, `banReason`, `banExpires`.
        #[schema(value_type = Object)]
        data: Value,
    }
);
request!(
    /// `POST /admin/set-role`.
    SetRoleRequest {
        user_id: String,
        /// A role or a list of roles.
        #[schema(value_type = Object)]
        role: Value,
    }
);
request!(
    /// `POST /admin/ban-user`.
    BanUserRequest {
        user_id: String,
        ban_reason: Option<String>,
        /// Seconds.
        ban_expires_in: Option<u64>,
    }
);
request!(
    /// `{userId}`.
    UserIdRequest { user_id: String }
);
request!(
    /// `POST /admin/set-user-password`.
    SetUserPasswordRequest { user_id: String, new_password: String }
);
request!(
    /// `POST /admin/revoke-user-session`.
    SessionTokenRequest { session_token: String }
);
request!(
    /// `POST /admin/has-permission`.
    HasPermissionRequest {
        /// `{resource: [action, ...]}`.
        #[schema(value_type = Option<Object>)]
        permissions: Option<Value>,
        #[schema(value_type = Option<Object>)]
        permission: Option<Value>,
        user_id: Option<String>,
        role: Option<String>,
    }
);
request!(
    /// `POST /two-factor/enable`.
    EnableTwoFactorRequest {
        password: String,
        /// `totp` (default) or `otp`.
        method: Option<String>,
        issuer: Option<String>,
    }
);
request!(
    /// `{password}`.
    PasswordRequest { password: String }
);
request!(
    /// `POST /two-factor/verify-*`.
    CodeRequest {
        code: String,
        trust_device: Option<bool>,
        /// Backup codes only.
        disable_session: Option<bool>,
    }
);
request!(
    /// `POST /two-factor/send-otp`.
    SendOtpRequest { trust_device: Option<bool> }
);
request!(
    /// `POST /passkey/verify-registration`.
    PasskeyRegistrationRequest {
        /// The authenticator's `RegistrationResponseJSON`.
        #[schema(value_type = Object)]
        response: Value,
        name: Option<String>,
        create_session: Option<bool>,
    }
);
request!(
    /// `POST /passkey/verify-authentication`.
    PasskeyAuthenticationRequest {
        /// The authenticator's `AuthenticationResponseJSON`.
        #[schema(value_type = Object)]
        response: Value,
    }
);
request!(
    /// `POST /passkey/update-passkey`.
    UpdatePasskeyRequest { id: String, name: String }
);
request!(
    /// `POST /passkey/delete-passkey`.
    PasskeyIdRequest { id: String }
);

/// The document of the identity routes (paths under [`super::BASE_PATH`]), without a server:
/// what `sigil openapi` prints and `/api/openapi.json` serves.
pub fn document() -> OpenApi {
    let mut doc = OpenApiRouter::<AuthService>::new()
        .nest(super::BASE_PATH, super::routes())
        .into_openapi();
    finish(&mut doc);
    doc
}

/// Security schemes, the shared error schema and the errors every identity route can give.
fn finish(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SESSION_COOKIE.into(),
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "better-auth.session_token",
            "The signed session cookie a sign-in sets (`__Secure-better-auth.session_token` \
             on an https base URL).",
        ))),
    );
    components.security_schemes.insert(
        SESSION_BEARER.into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The session token (the `set-auth-token` header of a sign-in), signed or raw.",
                ))
                .build(),
        ),
    );
    components
        .schemas
        .insert("ErrorBody".into(), ErrorBody::schema());
    add_common_errors(doc);
    name_operations(doc);
}

/// Gives every operation a unique `operationId` from its path, as Better Auth's client names its
/// calls: `/sign-in/email` is `signInEmail`, `/admin/list-users` `adminListUsers`,
/// `/reset-password/{token}` `resetPasswordToken`; a path with several methods suffixes all but
/// `GET` with the method (`getSessionPost`). (utoipa would use the handler's name, which is not
/// unique: `account::update_user` and `admin::update_user`.)
fn name_operations(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let mut base = String::new();
        let relative = path.strip_prefix(super::BASE_PATH).unwrap_or(path);
        for word in relative
            .split(['/', '-', '{', '}'])
            .filter(|w| !w.is_empty())
        {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                if base.is_empty() {
                    base.extend(first.to_lowercase());
                } else {
                    base.extend(first.to_uppercase());
                }
                base.extend(chars);
            }
        }
        let several = operations_mut(item).count() > 1;
        for (method, op) in [
            ("Get", &mut item.get),
            ("Post", &mut item.post),
            ("Put", &mut item.put),
            ("Patch", &mut item.patch),
            ("Delete", &mut item.delete),
        ] {
            if let Some(op) = op {
                op.operation_id = Some(if several && method != "Get" {
                    format!("{base}{method}")
                } else {
                    base.clone()
                });
            }
        }
    }
}

/// Adds, to every operation, the error answers any identity route can give before or around its
/// handler, unless the operation lists that status itself: 400 (malformed body or query), 403
/// (origin check), 429 (rate limit, with `Retry-After`), 500, 503 (database unavailable); 413
/// and 415 to operations with a body; and 401 to operations that need a session.
pub fn add_common_errors(doc: &mut OpenApi) {
    let common: [(&str, &str); 5] = [
        ("400", "Malformed body or query, or invalid input"),
        (
            "403",
            "Refused by the origin check (cookie-authenticated request from an untrusted origin)",
        ),
        ("429", "Rate limited (see `Retry-After`)"),
        ("500", "Internal error"),
        (
            "503",
            "The database is unavailable or busy (see `Retry-After`)",
        ),
    ];
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            // Optional sessions list an empty requirement (`{}`) first.
            let needs_session = op.security.as_ref().is_some_and(|list| {
                !list.is_empty()
                    && !list.iter().any(|requirement| {
                        serde_json::to_value(requirement)
                            .is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
                    })
            });
            let has_body = op.request_body.is_some();
            let mut statuses: Vec<(&str, &str)> = common.to_vec();
            if needs_session {
                statuses.push(("401", "No live session"));
            }
            if has_body {
                statuses.push(("413", "Body over the size limit"));
                statuses.push(("415", "Not application/json (or a form, where accepted)"));
            }
            for (status, description) in statuses {
                op.responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| error_response(description));
            }
        }
    }
}

/// A response with the `{code, message}` body.
pub fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "ErrorBody",
                    ))))
                    .build(),
            )
            .build(),
    )
}

/// The operations of a path item.
pub fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
