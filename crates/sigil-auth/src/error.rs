//! API errors: one type, mapped to HTTP in one place.
//!
//! Every error answers with JSON `{"message": ..., "code": ...}` (Better Auth's key order) and a
//! status. Codes and messages match Better Auth's `BASE_ERROR_CODES` byte for byte where Better
//! Auth has one, because client applications compare `error.code`. Internal failures are logged
//! with their cause and answered with a generic 500: no stack trace, no SQL, no secret.

use crate::accounts::{ConfirmError, ResetError, SignInError, SignUpError};
use crate::admin::{Action, AdminError};
use crate::domain::InvalidInput;
use crate::passkey::PasskeyError;
use crate::refresh::RefreshError;
use crate::two_factor::TwoFactorError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use std::borrow::Cow;

/// A code and its English message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(pub &'static str, pub &'static str);

/// Better Auth's error codes (from `@better-auth/core` `BASE_ERROR_CODES`) and Sigil's own.
#[allow(missing_docs)]
pub mod codes {
    use super::Code;
    pub const USER_NOT_FOUND: Code = Code("USER_NOT_FOUND", "User not found");
    pub const FAILED_TO_CREATE_USER: Code = Code("FAILED_TO_CREATE_USER", "Failed to create user");
    pub const FAILED_TO_CREATE_SESSION: Code =
        Code("FAILED_TO_CREATE_SESSION", "Failed to create session");
    pub const FAILED_TO_GET_SESSION: Code = Code("FAILED_TO_GET_SESSION", "Failed to get session");
    pub const INVALID_PASSWORD: Code = Code("INVALID_PASSWORD", "Invalid password");
    pub const INVALID_EMAIL: Code = Code("INVALID_EMAIL", "Invalid email");
    pub const INVALID_EMAIL_OR_PASSWORD: Code =
        Code("INVALID_EMAIL_OR_PASSWORD", "Invalid email or password");
    pub const INVALID_USER: Code = Code("INVALID_USER", "Invalid user");
    pub const INVALID_TOKEN: Code = Code("INVALID_TOKEN", "Invalid token");
    pub const TOKEN_EXPIRED: Code = Code("TOKEN_EXPIRED", "Token expired");
    pub const EMAIL_NOT_VERIFIED: Code = Code("EMAIL_NOT_VERIFIED", "Email not verified");
    pub const PASSWORD_TOO_SHORT: Code = Code("PASSWORD_TOO_SHORT", "Password too short");
    pub const PASSWORD_TOO_LONG: Code = Code("PASSWORD_TOO_LONG", "Password too long");
    pub const USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: Code = Code(
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        "User already exists. Use another email.",
    );
    pub const EMAIL_CAN_NOT_BE_UPDATED: Code =
        Code("EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated");
    pub const CREDENTIAL_ACCOUNT_NOT_FOUND: Code = Code(
        "CREDENTIAL_ACCOUNT_NOT_FOUND",
        "Credential account not found",
    );
    pub const SESSION_EXPIRED: Code = Code(
        "SESSION_EXPIRED",
        "Session expired. Re-authenticate to perform this action.",
    );
    pub const SESSION_NOT_FRESH: Code = Code("SESSION_NOT_FRESH", "Session is not fresh");
    pub const VERIFICATION_EMAIL_NOT_ENABLED: Code = Code(
        "VERIFICATION_EMAIL_NOT_ENABLED",
        "Verification email isn't enabled",
    );
    pub const EMAIL_ALREADY_VERIFIED: Code =
        Code("EMAIL_ALREADY_VERIFIED", "Email is already verified");
    pub const EMAIL_MISMATCH: Code = Code("EMAIL_MISMATCH", "Email mismatch");
    pub const INVALID_ORIGIN: Code = Code("INVALID_ORIGIN", "Invalid origin");
    pub const MISSING_OR_NULL_ORIGIN: Code =
        Code("MISSING_OR_NULL_ORIGIN", "Missing or null Origin");
    pub const INVALID_CALLBACK_URL: Code = Code("INVALID_CALLBACK_URL", "Invalid callbackURL");
    pub const INVALID_REDIRECT_URL: Code = Code("INVALID_REDIRECT_URL", "Invalid redirectURL");
    pub const CROSS_SITE_NAVIGATION_LOGIN_BLOCKED: Code = Code(
        "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
        "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
    );
    pub const METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED: Code = Code(
        "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
        "POST method requires deferSessionRefresh to be enabled in session config",
    );
    pub const BODY_MUST_BE_AN_OBJECT: Code =
        Code("BODY_MUST_BE_AN_OBJECT", "Body must be an object");
    pub const UNAUTHORIZED: Code = Code("UNAUTHORIZED", "Unauthorized");
    pub const INTERNAL_SERVER_ERROR: Code = Code("INTERNAL_SERVER_ERROR", "Internal Server Error");
    pub const BAD_REQUEST: Code = Code("BAD_REQUEST", "Invalid JSON in request body");
    pub const CHANGE_EMAIL_DISABLED: Code =
        Code("CHANGE_EMAIL_DISABLED", "Change email is disabled");
    pub const RESET_PASSWORD_DISABLED: Code =
        Code("RESET_PASSWORD_DISABLED", "Reset password isn't enabled");
    pub const PROVIDER_NOT_FOUND: Code = Code("PROVIDER_NOT_FOUND", "Provider not found");
    pub const ID_TOKEN_NOT_SUPPORTED: Code =
        Code("ID_TOKEN_NOT_SUPPORTED", "id_token not supported");
    pub const FAILED_TO_GET_USER_INFO: Code =
        Code("FAILED_TO_GET_USER_INFO", "Failed to get user info");
    pub const USER_EMAIL_NOT_FOUND: Code = Code("USER_EMAIL_NOT_FOUND", "User email not found");
    pub const SOCIAL_ACCOUNT_ALREADY_LINKED: Code = Code(
        "SOCIAL_ACCOUNT_ALREADY_LINKED",
        "Social account already linked",
    );
    pub const FAILED_TO_UNLINK_LAST_ACCOUNT: Code = Code(
        "FAILED_TO_UNLINK_LAST_ACCOUNT",
        "You can't unlink your last account",
    );
    pub const ACCOUNT_NOT_FOUND: Code = Code("ACCOUNT_NOT_FOUND", "Account not found");
    pub const OAUTH_LINK_ERROR: Code = Code("OAUTH_LINK_ERROR", "account not linked");
    pub const SIGNUP_DISABLED: Code = Code("OAUTH_LINK_ERROR", "signup disabled");
    pub const LINKING_NOT_ALLOWED: Code = Code(
        "LINKING_NOT_ALLOWED",
        "Account not linked - linking not allowed",
    );
    pub const LINKING_DIFFERENT_EMAILS_NOT_ALLOWED: Code = Code(
        "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED",
        "Account not linked - different emails not allowed",
    );
    pub const REFRESH_TOKEN_NOT_FOUND: Code =
        Code("REFRESH_TOKEN_NOT_FOUND", "Refresh token not found");
    pub const FAILED_TO_GET_ACCESS_TOKEN: Code = Code(
        "FAILED_TO_GET_ACCESS_TOKEN",
        "Failed to get a valid access token",
    );
    pub const PROVIDER_UNAVAILABLE: Code = Code(
        "PROVIDER_UNAVAILABLE",
        "The identity provider did not answer in time. Please try again.",
    );
    // `@better-auth/passkey`'s PASSKEY_ERROR_CODES.
    pub const CHALLENGE_NOT_FOUND: Code = Code("CHALLENGE_NOT_FOUND", "Challenge not found");
    pub const YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY",
        "You are not allowed to register this passkey",
    );
    pub const FAILED_TO_VERIFY_REGISTRATION: Code = Code(
        "FAILED_TO_VERIFY_REGISTRATION",
        "Failed to verify registration",
    );
    pub const PASSKEY_NOT_FOUND: Code = Code("PASSKEY_NOT_FOUND", "Passkey not found");
    pub const AUTHENTICATION_FAILED: Code = Code("AUTHENTICATION_FAILED", "Authentication failed");
    // Sigil's own.
    pub const PASSKEYS_UNAVAILABLE: Code = Code(
        "PASSKEYS_UNAVAILABLE",
        "Passkeys need a base URL whose host is a domain name (such as localhost), not an IP address",
    );
    pub const TOO_MANY_PASSKEYS: Code = Code("TOO_MANY_PASSKEYS", "Too many passkeys");
    pub const FIELD_NOT_ALLOWED: Code = Code("FIELD_NOT_ALLOWED", "Field not allowed to be set");
    // Better Auth's admin plugin (`ADMIN_ERROR_CODES`).
    pub const BANNED_USER: Code = Code(
        "BANNED_USER",
        "You have been banned from this application. Please contact support if you believe this is an error.",
    );
    pub const YOU_CANNOT_BAN_YOURSELF: Code =
        Code("YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself");
    pub const YOU_CANNOT_REMOVE_YOURSELF: Code =
        Code("YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself");
    pub const YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
        "You are not allowed to change users role",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS",
        "You are not allowed to create users",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_LIST_USERS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
        "You are not allowed to list users",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS",
        "You are not allowed to list users sessions",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_BAN_USERS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
        "You are not allowed to ban users",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
        "You are not allowed to revoke users sessions",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS",
        "You are not allowed to delete users",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
        "You are not allowed to set users password",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_GET_USER: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_GET_USER",
        "You are not allowed to get user",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS",
        "You are not allowed to update users",
    );
    pub const YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL",
        "You are not allowed to update users email",
    );
    pub const NO_DATA_TO_UPDATE: Code = Code("NO_DATA_TO_UPDATE", "No data to update");
    pub const INVALID_ROLE_TYPE: Code = Code("INVALID_ROLE_TYPE", "Invalid role type");
    pub const PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER: Code = Code(
        "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
        "Password cannot be updated through update-user. Use the set-user-password endpoint instead",
    );
    // Better Auth's twoFactor plugin (`TWO_FACTOR_ERROR_CODES`).
    pub const OTP_HAS_EXPIRED: Code = Code("OTP_HAS_EXPIRED", "OTP has expired");
    pub const TOTP_NOT_ENABLED: Code = Code("TOTP_NOT_ENABLED", "TOTP not enabled");
    pub const TWO_FACTOR_NOT_ENABLED: Code =
        Code("TWO_FACTOR_NOT_ENABLED", "Two factor isn't enabled");
    pub const BACKUP_CODES_NOT_ENABLED: Code =
        Code("BACKUP_CODES_NOT_ENABLED", "Backup codes aren't enabled");
    pub const INVALID_BACKUP_CODE: Code = Code("INVALID_BACKUP_CODE", "Invalid backup code");
    pub const INVALID_CODE: Code = Code("INVALID_CODE", "Invalid code");
    pub const TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE: Code = Code(
        "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
        "Too many attempts. Please request a new code.",
    );
    pub const ACCOUNT_TEMPORARILY_LOCKED: Code = Code(
        "ACCOUNT_TEMPORARILY_LOCKED",
        "Too many failed verification attempts. Your account is temporarily locked. Please try again later.",
    );
    pub const INVALID_TWO_FACTOR_COOKIE: Code =
        Code("INVALID_TWO_FACTOR_COOKIE", "Invalid two factor cookie");
    // Sigil's own.
    pub const YOU_ARE_NOT_ALLOWED_TO_READ_AUDIT_LOG: Code = Code(
        "YOU_ARE_NOT_ALLOWED_TO_READ_AUDIT_LOG",
        "You are not allowed to read the audit log",
    );
    pub const INVALID_BAN_DURATION: Code = Code(
        "INVALID_BAN_DURATION",
        "banExpiresIn must be a positive number of seconds, at most 100 years",
    );
    pub const NO_FIELDS_TO_UPDATE: Code = Code("NO_FIELDS_TO_UPDATE", "No fields to update");
    pub const EMAIL_IS_THE_SAME: Code = Code("EMAIL_IS_THE_SAME", "Email is the same");
    pub const PAYLOAD_TOO_LARGE: Code = Code("PAYLOAD_TOO_LARGE", "Request body is too large");
    pub const TOO_MANY_REQUESTS: Code = Code(
        "TOO_MANY_REQUESTS",
        "Too many requests. Please try again later.",
    );
    pub const NOT_FOUND: Code = Code("NOT_FOUND", "Not found");
    pub const INVALID_REFRESH_TOKEN: Code = Code("INVALID_REFRESH_TOKEN", "Invalid refresh token");
    pub const SERVICE_UNAVAILABLE: Code = Code(
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable. Please try again in a moment.",
    );
    pub const SERVICE_BUSY: Code = Code(
        "SERVICE_BUSY",
        "The server is busy. Please try again in a moment.",
    );
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    retry_after: Option<u64>,
    set_cookies: Vec<String>,
}

impl ApiError {
    /// An error with a known code and its standard message.
    pub fn new(status: StatusCode, code: Code) -> ApiError {
        ApiError {
            status,
            code: code.0,
            message: Cow::Borrowed(code.1),
            retry_after: None,
            set_cookies: Vec::new(),
        }
    }

    /// An error with a known code and a specific message.
    pub fn with_message(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            set_cookies: Vec::new(),
        }
    }

    /// 400 `VALIDATION_ERROR` with Better Auth's `[body.field] message` text.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::with_message(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED)
    }

    /// 429 with `X-Retry-After` (Better Auth's header) and `Retry-After`.
    pub fn too_many_requests(retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, codes::TOO_MANY_REQUESTS)
        }
    }

    /// 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1`: the database (or another dependency
    /// the answer needs) is unreachable; the same request may succeed in a moment.
    pub fn unavailable() -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_UNAVAILABLE)
        }
    }

    /// A generic 500 after logging `cause` (the cause never reaches the client).
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(target: "sigil::auth", error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_SERVER_ERROR,
        )
    }

    /// Adds `Set-Cookie` lines (Better Auth clears dead session cookies on a 401).
    pub fn with_cookies(mut self, lines: impl IntoIterator<Item = String>) -> ApiError {
        self.set_cookies.extend(lines);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "message": self.message, "code": self.code }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            let value = HeaderValue::from(secs);
            response
                .headers_mut()
                .insert("x-retry-after", value.clone());
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        for line in self.set_cookies {
            if let Ok(v) = HeaderValue::from_str(&line) {
                response.headers_mut().append(http::header::SET_COOKIE, v);
            }
        }
        response
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        let bad = |code| ApiError::new(StatusCode::BAD_REQUEST, code);
        match e {
            InvalidInput::NameTooLong => ApiError::validation(
                "[body.name] Too big: expected string to have <=256 characters",
            ),
            InvalidInput::NameControl => ApiError::validation(
                "[body.name] Invalid input: control characters are not allowed",
            ),
            InvalidInput::ImageTooLong => ApiError::validation(
                "[body.image] Too big: expected string to have <=2048 characters",
            ),
            InvalidInput::ImageInvalid => ApiError::validation(
                "[body.image] Invalid input: whitespace and control characters are not allowed",
            ),
            InvalidInput::PasswordTooShort => bad(codes::PASSWORD_TOO_SHORT),
            InvalidInput::PasswordTooLong => bad(codes::PASSWORD_TOO_LONG),
        }
    }
}

impl ApiError {
    /// 503 `SERVICE_BUSY` with `Retry-After: 1`: password hashing is saturated.
    fn busy() -> ApiError {
        warn_saturated();
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_BUSY)
        }
    }

    /// 429 with `Retry-After: 1`: this client's share of the hash queue is in use.
    fn client_busy() -> ApiError {
        // Not logged above debug: under a flood this is every refused request.
        tracing::debug!(target: "sigil::auth", "hash queue share of this client in use: refused");
        ApiError::too_many_requests(1)
    }
}

impl From<crate::password::HashError> for ApiError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy => ApiError::busy(),
            crate::password::HashError::ClientBusy => ApiError::client_busy(),
            other => ApiError::internal(other),
        }
    }
}

impl From<SignUpError> for ApiError {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::EmailTaken => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
            ),
            SignUpError::Busy => ApiError::busy(),
            SignUpError::ClientBusy => ApiError::client_busy(),
            SignUpError::Unavailable => ApiError::unavailable(),
            SignUpError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, codes::INVALID_EMAIL_OR_PASSWORD)
            }
            SignInError::EmailNotVerified => {
                ApiError::new(StatusCode::FORBIDDEN, codes::EMAIL_NOT_VERIFIED)
            }
            SignInError::Banned => ApiError::new(StatusCode::FORBIDDEN, codes::BANNED_USER),
            SignInError::Throttled(wait) => ApiError::too_many_requests(wait),
            SignInError::Busy => ApiError::busy(),
            SignInError::ClientBusy => ApiError::client_busy(),
            SignInError::Unavailable => ApiError::unavailable(),
            SignInError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<ConfirmError> for ApiError {
    fn from(e: ConfirmError) -> Self {
        match e {
            ConfirmError::NoCredential => {
                ApiError::new(StatusCode::BAD_REQUEST, codes::CREDENTIAL_ACCOUNT_NOT_FOUND)
            }
            ConfirmError::InvalidPassword => {
                ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_PASSWORD)
            }
            ConfirmError::Busy => ApiError::busy(),
            ConfirmError::ClientBusy => ApiError::client_busy(),
            ConfirmError::Unavailable => ApiError::unavailable(),
            ConfirmError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::InvalidToken => {
                ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_TOKEN)
            }
            ResetError::UserNotFound => {
                ApiError::new(StatusCode::BAD_REQUEST, codes::USER_NOT_FOUND)
            }
            ResetError::Busy => ApiError::busy(),
            ResetError::ClientBusy => ApiError::client_busy(),
            ResetError::Unavailable => ApiError::unavailable(),
            ResetError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let bad = |code| ApiError::new(StatusCode::BAD_REQUEST, code);
        match e {
            AdminError::Forbidden(action) => ApiError::new(
                StatusCode::FORBIDDEN,
                match action {
                    Action::CreateUser => codes::YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS,
                    Action::ListUsers => codes::YOU_ARE_NOT_ALLOWED_TO_LIST_USERS,
                    Action::GetUser => codes::YOU_ARE_NOT_ALLOWED_TO_GET_USER,
                    Action::UpdateUser => codes::YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS,
                    Action::SetRole => codes::YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE,
                    Action::Ban => codes::YOU_ARE_NOT_ALLOWED_TO_BAN_USERS,
                    Action::SetEmail => codes::YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL,
                    Action::SetPassword => codes::YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD,
                    Action::DeleteUser => codes::YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS,
                    Action::ListSessions => codes::YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS,
                    Action::RevokeSessions => codes::YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS,
                    Action::ReadAudit => codes::YOU_ARE_NOT_ALLOWED_TO_READ_AUDIT_LOG,
                },
            ),
            AdminError::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, codes::USER_NOT_FOUND),
            AdminError::CannotBanSelf => bad(codes::YOU_CANNOT_BAN_YOURSELF),
            AdminError::CannotRemoveSelf => bad(codes::YOU_CANNOT_REMOVE_YOURSELF),
            AdminError::EmailTaken => bad(codes::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL),
            AdminError::InvalidRole => bad(codes::INVALID_ROLE_TYPE),
            AdminError::NoData => bad(codes::NO_DATA_TO_UPDATE),
            AdminError::InvalidBanDuration => bad(codes::INVALID_BAN_DURATION),
            AdminError::Busy => ApiError::busy(),
            AdminError::Unavailable => ApiError::unavailable(),
            AdminError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Invalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, codes::INVALID_REFRESH_TOKEN)
            }
            RefreshError::Unavailable => ApiError::unavailable(),
            RefreshError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<crate::social::SocialError> for ApiError {
    fn from(e: crate::social::SocialError) -> Self {
        use crate::social::SocialError as S;
        use crate::social::oidc::ProviderError as P;
        let with = |status, code| ApiError::new(status, code);
        match e {
            S::ProviderNotFound => with(StatusCode::NOT_FOUND, codes::PROVIDER_NOT_FOUND),
            S::IdTokenNotSupported => with(StatusCode::NOT_FOUND, codes::ID_TOKEN_NOT_SUPPORTED),
            S::InvalidIdToken(why) => {
                tracing::info!(target: "sigil::social", reason = %why, "ID token refused");
                with(StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN)
            }
            S::UserInfo => with(StatusCode::UNAUTHORIZED, codes::FAILED_TO_GET_USER_INFO),
            S::EmailNotFound => with(StatusCode::UNAUTHORIZED, codes::USER_EMAIL_NOT_FOUND),
            S::EmailNotVerified => with(StatusCode::FORBIDDEN, codes::EMAIL_NOT_VERIFIED),
            S::NotLinked => with(StatusCode::UNAUTHORIZED, codes::OAUTH_LINK_ERROR),
            S::SignUpDisabled => with(StatusCode::UNAUTHORIZED, codes::SIGNUP_DISABLED),
            S::AlreadyLinked => with(StatusCode::CONFLICT, codes::SOCIAL_ACCOUNT_ALREADY_LINKED),
            S::LinkingNotAllowed => with(StatusCode::UNAUTHORIZED, codes::LINKING_NOT_ALLOWED),
            S::DifferentEmails => with(
                StatusCode::UNAUTHORIZED,
                codes::LINKING_DIFFERENT_EMAILS_NOT_ALLOWED,
            ),
            S::Banned => with(StatusCode::FORBIDDEN, codes::BANNED_USER),
            S::AccountNotFound => with(StatusCode::BAD_REQUEST, codes::ACCOUNT_NOT_FOUND),
            S::LastAccount => with(
                StatusCode::BAD_REQUEST,
                codes::FAILED_TO_UNLINK_LAST_ACCOUNT,
            ),
            S::NoRefreshToken => with(StatusCode::BAD_REQUEST, codes::REFRESH_TOKEN_NOT_FOUND),
            S::Provider(P::Unreachable(why)) => {
                tracing::warn!(target: "sigil::social", reason = %why, "provider unreachable");
                with(StatusCode::BAD_GATEWAY, codes::PROVIDER_UNAVAILABLE)
            }
            S::Provider(other) => {
                tracing::info!(target: "sigil::social", error = %other, "provider call failed");
                with(StatusCode::BAD_REQUEST, codes::FAILED_TO_GET_ACCESS_TOKEN)
            }
            S::Invalid(field) => ApiError::validation(format!("[body.{field}] Invalid input")),
            S::Unavailable => ApiError::unavailable(),
            S::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        let at = ApiError::new;
        match e {
            PasskeyError::Unavailable => at(StatusCode::BAD_REQUEST, codes::PASSKEYS_UNAVAILABLE),
            PasskeyError::ChallengeNotFound => {
                at(StatusCode::BAD_REQUEST, codes::CHALLENGE_NOT_FOUND)
            }
            PasskeyError::NotAllowed => at(
                StatusCode::UNAUTHORIZED,
                codes::YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY,
            ),
            PasskeyError::RegistrationFailed => at(
                StatusCode::BAD_REQUEST,
                codes::FAILED_TO_VERIFY_REGISTRATION,
            ),
            PasskeyError::TooMany => at(StatusCode::BAD_REQUEST, codes::TOO_MANY_PASSKEYS),
            PasskeyError::UnknownCredential => {
                at(StatusCode::UNAUTHORIZED, codes::PASSKEY_NOT_FOUND)
            }
            PasskeyError::AuthenticationFailed => {
                at(StatusCode::BAD_REQUEST, codes::AUTHENTICATION_FAILED)
            }
            PasskeyError::NotFound => at(StatusCode::NOT_FOUND, codes::PASSKEY_NOT_FOUND),
            PasskeyError::Busy => ApiError {
                retry_after: Some(1),
                ..at(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_BUSY)
            },
            PasskeyError::Banned => ApiError::new(StatusCode::FORBIDDEN, codes::BANNED_USER),
            PasskeyError::InvalidTwoFactorCookie => {
                at(StatusCode::UNAUTHORIZED, codes::INVALID_TWO_FACTOR_COOKIE)
            }
            PasskeyError::Store(e) => e.into(),
            PasskeyError::TwoFactor(e) => e.into(),
            PasskeyError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<TwoFactorError> for ApiError {
    fn from(e: TwoFactorError) -> Self {
        let bad = |code| ApiError::new(StatusCode::BAD_REQUEST, code);
        let unauthorized = |code| ApiError::new(StatusCode::UNAUTHORIZED, code);
        match e {
            TwoFactorError::PasswordRequired => bad(codes::INVALID_PASSWORD),
            TwoFactorError::Password(e) => e.into(),
            TwoFactorError::TotpNotEnabled => bad(codes::TOTP_NOT_ENABLED),
            TwoFactorError::NotEnabled => bad(codes::TWO_FACTOR_NOT_ENABLED),
            TwoFactorError::BackupCodesNotEnabled => bad(codes::BACKUP_CODES_NOT_ENABLED),
            TwoFactorError::InvalidCode => unauthorized(codes::INVALID_CODE),
            TwoFactorError::InvalidBackupCode => unauthorized(codes::INVALID_BACKUP_CODE),
            TwoFactorError::InvalidChallenge => unauthorized(codes::INVALID_TWO_FACTOR_COOKIE),
            TwoFactorError::TooManyAttempts => bad(codes::TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE),
            TwoFactorError::OtpExpired => bad(codes::OTP_HAS_EXPIRED),
            TwoFactorError::Locked(wait) => ApiError {
                retry_after: Some(wait),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    codes::ACCOUNT_TEMPORARILY_LOCKED,
                )
            },
            TwoFactorError::Unavailable => ApiError::unavailable(),
            TwoFactorError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// Logs that the hash queue is full at most once a second (with the running count), not once per
/// refused request: under a flood a line per refusal would be a second flood, in the logs.
fn warn_saturated() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    static SHED: AtomicU64 = AtomicU64::new(0);
    let shed = SHED.fetch_add(1, Relaxed) + 1;
    let second = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs()
        + 1;
    let last = LAST_SECOND.load(Relaxed);
    if second > last
        && LAST_SECOND
            .compare_exchange(last, second, Relaxed, Relaxed)
            .is_ok()
    {
        tracing::warn!(target: "sigil::auth", shed_since_start = shed, "password hashing saturated: shedding load (logged at most once a second)");
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(target: "sigil::auth", error = %e, "database unavailable: answering 503");
            return ApiError::unavailable();
        }
        ApiError::internal(e)
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
