//! Better Auth's `admin` plugin routes (`/admin/*`) and Sigil's `/admin/audit-log`: each handler
//! reads its input, calls one [`Admin`](crate::admin::Admin) operation and answers in Better
//! Auth's shape. No session: 401; a session without the permission: 403 with the plugin's code
//! (recorded in the audit log).

use super::AuthService;
use super::body::Body;
use super::context::{Caller, Client};
use super::openapi as doc;
use super::reply::{Reply, session_json, user_json};
use crate::admin::{Actor, DEFAULT_PAGE, NewUser, parse_roles};
use crate::audit::row_json;
use crate::domain::{Email, Password, check_image, check_name, parse_time};
use crate::error::{ApiError, ApiResult, codes};
use crate::session::ClientInfo;
use crate::store::{
    FieldKind, FilterOp, FilterValue, MAX_FILTER_VALUES, UserField, UserFilter, UserPatch,
    UserQuery,
};
use axum::extract::{Query, State};
use http::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn actor(caller: Caller, client: ClientInfo) -> Actor {
    Actor::User {
        user: Box::new(caller.user),
        session_id: caller.session.id,
        client,
    }
}

/// A 400 naming a query parameter, in Better Auth's validation style.
fn bad_query(name: &str, message: &str) -> ApiError {
    ApiError::validation(format!("[query.{name}] {message}"))
}

/// The last value of a query parameter.
fn last<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parse_u64(query: &[(String, String)], name: &str) -> ApiResult<Option<u64>> {
    match last(query, name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| bad_query(name, "Invalid input: expected a non-negative integer")),
    }
}

fn filter_value(field: UserField, name: &str, raw: &str) -> ApiResult<FilterValue> {
    Ok(match field.kind() {
        FieldKind::Text => FilterValue::Text(raw.to_owned()),
        FieldKind::Bool => match raw.trim() {
            "true" | "1" => FilterValue::Int(1),
            "false" | "0" => FilterValue::Int(0),
            _ => return Err(bad_query(name, "Invalid input: expected true or false")),
        },
        FieldKind::Time => FilterValue::Int(parse_time(raw).ok_or_else(|| {
            bad_query(
                name,
                "Invalid input: expected an RFC 3339 time or milliseconds",
            )
        })?),
    })
}

/// The list query of `GET /admin/list-users`.
fn user_query(query: &[(String, String)]) -> ApiResult<UserQuery> {
    let mut filters = Vec::new();
    if let Some(value) = last(query, "searchValue").filter(|v| !v.is_empty()) {
        let field = match last(query, "searchField").unwrap_or("email") {
            "email" => UserField::Email,
            "name" => UserField::Name,
            _ => {
                return Err(bad_query(
                    "searchField",
                    "Invalid option: expected one of \"email\"|\"name\"",
                ));
            }
        };
        let op = match last(query, "searchOperator").unwrap_or("contains") {
            "contains" => FilterOp::Contains,
            "starts_with" => FilterOp::StartsWith,
            "ends_with" => FilterOp::EndsWith,
            _ => {
                return Err(bad_query(
                    "searchOperator",
                    "Invalid option: expected one of \"contains\"|\"starts_with\"|\"ends_with\"",
                ));
            }
        };
        filters.push(UserFilter {
            field,
            op,
            values: vec![FilterValue::Text(value.to_owned())],
        });
    }
    let raw_values: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "filterValue" || k == "filterValue[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if !raw_values.is_empty() {
        let field_name = last(query, "filterField").unwrap_or("email");
        let field = UserField::parse(field_name)
            .ok_or_else(|| bad_query("filterField", "Invalid input: unknown user field"))?;
        let op_name = last(query, "filterOperator").unwrap_or("eq");
        let op = FilterOp::parse(op_name)
            .ok_or_else(|| bad_query("filterOperator", "Invalid input: unknown operator"))?;
        let text_op = matches!(
            op,
            FilterOp::Contains | FilterOp::StartsWith | FilterOp::EndsWith
        );
        if text_op && field.kind() != FieldKind::Text {
            return Err(bad_query(
                "filterOperator",
                "Invalid input: a text operator on a field that is not text",
            ));
        }
        let raw: Vec<&str> = if matches!(op, FilterOp::In | FilterOp::NotIn) {
            raw_values.iter().flat_map(|v| v.split(',')).collect()
        } else {
            raw_values.into_iter().rev().take(1).collect()
        };
        if raw.len() > MAX_FILTER_VALUES {
            return Err(bad_query("filterValue", "Too big: at most 100 values"));
        }
        let values = raw
            .into_iter()
            .map(|v| filter_value(field, "filterValue", v))
            .collect::<ApiResult<Vec<_>>>()?;
        filters.push(UserFilter { field, op, values });
    }
    let sort = match last(query, "sortBy").filter(|v| !v.is_empty()) {
        None => None,
        Some(name) => {
            let field = UserField::parse(name)
                .ok_or_else(|| bad_query("sortBy", "Invalid input: unknown user field"))?;
            let desc = match last(query, "sortDirection").unwrap_or("asc") {
                "asc" => false,
                "desc" => true,
                _ => {
                    return Err(bad_query(
                        "sortDirection",
                        "Invalid option: expected one of \"asc\"|\"desc\"",
                    ));
                }
            };
            Some((field, desc))
        }
    };
    let limit = parse_u64(query, "limit")?
        .filter(|n| *n > 0)
        .map_or(DEFAULT_PAGE, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let offset = parse_u64(query, "offset")?.unwrap_or(0);
    Ok(UserQuery {
        filters,
        sort,
        limit,
        offset,
    })
}

/// `GET /admin/list-users?searchValue&searchField&searchOperator&limit&offset&sortBy&sortDirection&filterField&filterValue&filterOperator`:
/// `{users, total, limit, offset}`. Pages hold at most 500 users (100 when no limit is given).
#[utoipa::path(
    get,
    path = "/admin/list-users",
    tag = "admin",
    params(("searchValue" = Option<String>, Query), ("searchField" = Option<String>, Query), ("searchOperator" = Option<String>, Query), ("limit" = Option<String>, Query), ("offset" = Option<String>, Query), ("sortBy" = Option<String>, Query), ("sortDirection" = Option<String>, Query), ("filterField" = Option<String>, Query), ("filterValue" = Option<String>, Query), ("filterOperator" = Option<String>, Query)),
    responses((status = 200, description = "A page of users", body = doc::UserListReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn list_users(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    // The permission first: a non-administrator learns nothing from a malformed query.
    auth.0
        .admin
        .require(&actor, crate::admin::Action::ListUsers)
        .await?;
    let query = user_query(&query)?;
    let offset = query.offset;
    let (users, total) = auth.0.admin.list_users(&actor, query.clone()).await?;
    let limit = query.limit.clamp(1, crate::admin::MAX_PAGE);
    Ok(Reply::json(json!({
        "users": users.iter().map(user_json).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

/// `GET /admin/get-user?id=`: the user.
#[utoipa::path(
    get,
    path = "/admin/get-user",
    tag = "admin",
    params(("id" = String, Query, description = "User id")),
    responses((status = 200, description = "The user", body = doc::UserBody), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn get_user(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::GetUser)
        .await?;
    let id = last(&query, "id")
        .ok_or_else(|| bad_query("id", "Invalid input: expected string, received undefined"))?;
    let user = auth.0.admin.get_user(&actor, id).await?;
    Ok(Reply::json(user_json(&user)))
}

/// A role given as a string or an array of strings.
fn roles_of(value: &Value) -> ApiResult<String> {
    match value {
        Value::String(s) => Ok(parse_roles(s.split(','))?),
        Value::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => names.push(s.as_str()),
                    _ => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            codes::INVALID_ROLE_TYPE,
                        ));
                    }
                }
            }
            Ok(parse_roles(names)?)
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_ROLE_TYPE,
        )),
    }
}

/// `POST /admin/create-user {email, password?, name, role?, data?}`: `{user}`. `data` may carry
/// `image`, `emailVerified` and `role`; other fields are refused.
#[utoipa::path(
    post,
    path = "/admin/create-user",
    tag = "admin",
    request_body(content = doc::CreateUserRequest, content_type = "application/json"),
    responses((status = 200, description = "Created", body = doc::UserReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 422, description = "USER_ALREADY_EXISTS", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn create_user(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::CreateUser)
        .await?;
    let mut f = body.fields("object")?;
    let email = f.string("email");
    let password = f.opt_string("password");
    let name = f.string("name");
    let has_role = f.has("role");
    f.finish()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    let root = body_object(&body);
    let data = match root.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ApiError::validation(
                "[body.data] Invalid input: expected record",
            ));
        }
    };
    let role_value = if has_role {
        root.get("role")
    } else {
        data.get("role")
    };
    let role = role_value.map(roles_of).transpose()?;
    let mut image = None;
    let mut email_verified = false;
    for (key, value) in &data {
        match (key.as_str(), value) {
            ("role", _) => {}
            ("image", Value::String(s)) => image = Some(s.clone()),
            ("image", Value::Null) => image = None,
            ("emailVerified", Value::Bool(b)) => email_verified = *b,
            _ => {
                return Err(ApiError::validation(format!(
                    "[body.data.{}] Invalid input: not a field an administrator may set",
                    key.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let email = Email::parse(email)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_EMAIL))?;
    check_name(name)?;
    image.as_deref().map(check_image).transpose()?;
    let policy = auth.0.config.password;
    let password = password
        .map(|p| Password::new_password(p, policy))
        .transpose()?;
    let user = auth
        .0
        .admin
        .create_user(
            &actor,
            NewUser {
                email,
                name: name.to_owned(),
                password,
                role,
                image,
                email_verified,
            },
        )
        .await?;
    Ok(Reply::json(json!({ "user": user_json(&user) })))
}

fn body_object(body: &Body) -> Map<String, Value> {
    match body.value() {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// `POST /admin/update-user {userId, data}`: the updated user. `data` may hold `name`, `image`,
/// `email`, `emailVerified`, `role`, `banned`, `banReason`, `banExpires`; `password` is refused
/// (`/admin/set-user-password` exists), as is any other field.
#[utoipa::path(
    post,
    path = "/admin/update-user",
    tag = "admin",
    request_body(content = doc::AdminUpdateUserRequest, content_type = "application/json"),
    responses((status = 200, description = "The updated user", body = doc::UserBody), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn update_user(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::UpdateUser)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    f.finish()?;
    let user_id = user_id.unwrap_or_default();
    let root = body_object(&body);
    let data = match root.get("data") {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(ApiError::validation(
                "[body.data] Invalid input: expected record",
            ));
        }
    };
    if data.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::NO_DATA_TO_UPDATE,
        ));
    }
    if data.contains_key("password") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER,
        ));
    }
    let mut patch = UserPatch::default();
    let wrong = |key: &str, expected: &str| {
        ApiError::validation(format!(
            "[body.data.{}] Invalid input: expected {expected}",
            key.chars().take(64).collect::<String>()
        ))
    };
    let (mut banned, mut reason, mut expires) = (None, None, None);
    for (key, value) in data {
        match (key.as_str(), value) {
            ("name", Value::String(s)) => {
                check_name(s)?;
                patch.name = Some(s.clone());
            }
            ("image", Value::String(s)) => {
                check_image(s)?;
                patch.image = Some(Some(s.clone()));
            }
            ("image", Value::Null) => patch.image = Some(None),
            ("email", Value::String(s)) => {
                let email = Email::parse(s)
                    .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_EMAIL))?;
                patch.email = Some(email.as_str().to_owned());
            }
            ("emailVerified", Value::Bool(b)) => patch.email_verified = Some(*b),
            ("role", v) => patch.role = Some(roles_of(v)?),
            ("banned", Value::Bool(b)) => banned = Some(*b),
            ("banReason", Value::String(s)) => {
                reason = Some(
                    s.chars()
                        .take(crate::admin::MAX_BAN_REASON)
                        .collect::<String>(),
                )
            }
            ("banReason", Value::Null) => reason = None,
            ("banExpires", Value::Null) => expires = None,
            ("banExpires", Value::String(s)) => {
                expires = Some(parse_time(s).ok_or_else(|| wrong(key, "an RFC 3339 time"))?);
            }
            ("banExpires", Value::Number(n)) => {
                expires = Some(n.as_i64().ok_or_else(|| wrong(key, "milliseconds"))?);
            }
            ("name" | "email" | "banReason", _) => return Err(wrong(key, "string")),
            ("image", _) => return Err(wrong(key, "string or null")),
            ("emailVerified" | "banned", _) => return Err(wrong(key, "boolean")),
            ("banExpires", _) => return Err(wrong(key, "a time")),
            _ => {
                return Err(ApiError::validation(format!(
                    "[body.data.{}] Invalid input: not a field an administrator may set",
                    key.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let touches_ban =
        banned.is_some() || data.contains_key("banReason") || data.contains_key("banExpires");
    if touches_ban {
        let target = auth.0.admin.get_user(&actor, user_id).await?;
        let banned = banned.unwrap_or(target.banned);
        patch.ban = Some(if banned {
            (
                true,
                reason.or(target.ban_reason),
                if data.contains_key("banExpires") {
                    expires
                } else {
                    target.ban_expires
                },
            )
        } else {
            (false, None, None)
        });
    }
    let user = auth.0.admin.update_user(&actor, user_id, patch).await?;
    Ok(Reply::json(user_json(&user)))
}

/// `POST /admin/set-role {userId, role}` (`role`: a string or an array): `{user}`.
#[utoipa::path(
    post,
    path = "/admin/set-role",
    tag = "admin",
    request_body(content = doc::SetRoleRequest, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = doc::UserReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn set_role(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::SetRole)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    let has_role = f.has("role");
    f.finish()?;
    if !has_role {
        return Err(ApiError::validation("[body.role] Invalid input"));
    }
    let role = roles_of(body_object(&body).get("role").unwrap_or(&Value::Null))?;
    let user = auth
        .0
        .admin
        .set_role(&actor, user_id.unwrap_or_default(), role)
        .await?;
    Ok(Reply::json(json!({ "user": user_json(&user) })))
}

/// `POST /admin/ban-user {userId, banReason?, banExpiresIn?}` (seconds): `{user}`. Every session
/// of the user ends (their JWTs are refused at once).
#[utoipa::path(
    post,
    path = "/admin/ban-user",
    tag = "admin",
    request_body(content = doc::BanUserRequest, content_type = "application/json"),
    responses((status = 200, description = "Banned, every session ended", body = doc::UserReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn ban_user(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::Ban)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    let reason = f.opt_string("banReason");
    f.finish()?;
    let expires_in = match body_object(&body).get("banExpiresIn") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(secs)
                if secs.is_finite()
                    && secs > 0.0
                    && secs <= crate::admin::MAX_BAN.as_secs_f64() =>
            {
                Some(Duration::from_secs_f64(secs))
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_BAN_DURATION,
                ));
            }
        },
        Some(_) => {
            return Err(ApiError::validation(
                "[body.banExpiresIn] Invalid input: expected number",
            ));
        }
    };
    let user = auth
        .0
        .admin
        .ban(&actor, user_id.unwrap_or_default(), reason, expires_in)
        .await?;
    Ok(Reply::json(json!({ "user": user_json(&user) })))
}

/// `POST /admin/unban-user {userId}`: `{user}`.
#[utoipa::path(
    post,
    path = "/admin/unban-user",
    tag = "admin",
    request_body(content = doc::UserIdRequest, content_type = "application/json"),
    responses((status = 200, description = "Unbanned", body = doc::UserReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn unban_user(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::Ban)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    f.finish()?;
    let user = auth
        .0
        .admin
        .unban(&actor, user_id.unwrap_or_default())
        .await?;
    Ok(Reply::json(json!({ "user": user_json(&user) })))
}

/// `POST /admin/set-user-password {userId, newPassword}`: `{status: true}`.
#[utoipa::path(
    post,
    path = "/admin/set-user-password",
    tag = "admin",
    request_body(content = doc::SetUserPasswordRequest, content_type = "application/json"),
    responses((status = 200, description = "Set", body = doc::StatusReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn set_user_password(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::SetPassword)
        .await?;
    let mut f = body.fields("object")?;
    let new_password = f.non_empty("newPassword");
    let user_id = f.non_empty("userId");
    f.finish()?;
    let (Some(new_password), Some(user_id)) = (new_password, user_id) else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    let password = Password::new_password(new_password, auth.0.config.password)?;
    auth.0.admin.set_password(&actor, user_id, password).await?;
    Ok(Reply::json(json!({ "status": true })))
}

/// `POST /admin/list-user-sessions {userId}`: `{sessions}`. A session's `token` is its id (Sigil
/// keeps no tokens), which `/admin/revoke-user-session` accepts.
#[utoipa::path(
    post,
    path = "/admin/list-user-sessions",
    tag = "admin",
    request_body(content = doc::UserIdRequest, content_type = "application/json"),
    responses((status = 200, description = "The user sessions (token: the session id)", body = doc::SessionListReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn list_user_sessions(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::ListSessions)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    f.finish()?;
    let sessions = auth
        .0
        .admin
        .list_sessions(&actor, user_id.unwrap_or_default())
        .await?;
    let list: Vec<Value> = sessions.iter().map(|s| session_json(s, &s.id)).collect();
    Ok(Reply::json(json!({ "sessions": list })))
}

/// `POST /admin/revoke-user-session {sessionToken}` (a session id or token): `{success: true}`.
#[utoipa::path(
    post,
    path = "/admin/revoke-user-session",
    tag = "admin",
    request_body(content = doc::SessionTokenRequest, content_type = "application/json"),
    responses((status = 200, description = "Ended", body = doc::SuccessReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn revoke_user_session(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::RevokeSessions)
        .await?;
    let mut f = body.fields("object")?;
    let handle = f.string("sessionToken");
    f.finish()?;
    auth.0
        .admin
        .revoke_session(&actor, handle.unwrap_or_default())
        .await?;
    Ok(Reply::json(json!({ "success": true })))
}

/// `POST /admin/revoke-user-sessions {userId}`: `{success: true}`.
#[utoipa::path(
    post,
    path = "/admin/revoke-user-sessions",
    tag = "admin",
    request_body(content = doc::UserIdRequest, content_type = "application/json"),
    responses((status = 200, description = "Ended", body = doc::SuccessReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn revoke_user_sessions(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::RevokeSessions)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    f.finish()?;
    auth.0
        .admin
        .revoke_sessions(&actor, user_id.unwrap_or_default())
        .await?;
    Ok(Reply::json(json!({ "success": true })))
}

/// `POST /admin/remove-user {userId}`: `{success: true}`.
#[utoipa::path(
    post,
    path = "/admin/remove-user",
    tag = "admin",
    request_body(content = doc::UserIdRequest, content_type = "application/json"),
    responses((status = 200, description = "Removed", body = doc::SuccessReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn remove_user(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::DeleteUser)
        .await?;
    let mut f = body.fields("object")?;
    let user_id = f.string("userId");
    f.finish()?;
    auth.0
        .admin
        .remove_user(&actor, user_id.unwrap_or_default())
        .await?;
    Ok(Reply::json(json!({ "success": true })))
}

/// `POST /admin/has-permission {permissions | permission, userId?, role?}`: `{error: null,
/// success}` for the caller's own roles. Needs a session (Sigil does not answer for other users
/// or roles over HTTP: that would tell anyone who the administrators are).
#[utoipa::path(
    post,
    path = "/admin/has-permission",
    tag = "admin",
    request_body(content = doc::HasPermissionRequest, content_type = "application/json"),
    responses((status = 200, description = "Whether the caller roles allow it", body = doc::PermissionReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn has_permission(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Reply> {
    let root = body_object(&body);
    let given = root.get("permissions").or_else(|| root.get("permission"));
    let Some(Value::Object(given)) = given else {
        return Err(ApiError::with_message(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "invalid permission check. no permission(s) were passed.",
        ));
    };
    if given.len() > 32 {
        return Err(ApiError::validation("[body.permissions] Too big"));
    }
    let mut permissions = BTreeMap::new();
    for (resource, actions) in given {
        let Value::Array(actions) = actions else {
            return Err(ApiError::validation(
                "[body.permissions] Invalid input: expected record of string arrays",
            ));
        };
        let mut list = Vec::with_capacity(actions.len().min(64));
        for action in actions.iter().take(64) {
            match action {
                Value::String(s) => list.push(s.clone()),
                _ => {
                    return Err(ApiError::validation(
                        "[body.permissions] Invalid input: expected record of string arrays",
                    ));
                }
            }
        }
        permissions.insert(resource.clone(), list);
    }
    let success = auth.0.admin.policy().has_permission(
        Some(&caller.user.id),
        &caller.user.role,
        &permissions,
    );
    Ok(Reply::json(json!({ "error": null, "success": success })))
}

/// `GET /admin/audit-log?userId=&since=&limit=` (Sigil's own): `{events}`, newest first. `since`
/// is an RFC 3339 time or milliseconds; `limit` defaults to 100, at most 1000.
#[utoipa::path(
    get,
    path = "/admin/audit-log",
    tag = "admin",
    params(("userId" = Option<String>, Query), ("since" = Option<String>, Query, description = "RFC 3339 time or milliseconds"), ("limit" = Option<u32>, Query, description = "Default 100, at most 1000")),
    responses((status = 200, description = "Audit events, newest first", body = doc::AuditLogReply), (status = 403, description = "Not an administrator", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn audit_log(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Reply> {
    let actor = actor(caller, client);
    auth.0
        .admin
        .require(&actor, crate::admin::Action::ReadAudit)
        .await?;
    let user_id = last(&query, "userId").filter(|v| !v.is_empty());
    let since = match last(&query, "since").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(parse_time(v).ok_or_else(|| {
            bad_query(
                "since",
                "Invalid input: expected an RFC 3339 time or milliseconds",
            )
        })?),
    };
    let limit = parse_u64(&query, "limit")?
        .filter(|n| *n > 0)
        .map_or(100, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let rows = auth
        .0
        .admin
        .read_audit(&actor, user_id, since, limit)
        .await?;
    Ok(Reply::json(json!({
        "events": rows.iter().map(row_json).collect::<Vec<_>>(),
    })))
}
