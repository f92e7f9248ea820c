//! Administration, as an operator and an administrator meet it: the first administrator is made
//! with `sigil users set-role` on the database, then Better Auth's `/admin/*` routes list, ban,
//! unban and remove users against the real server, a ban ends the user's sessions and refuses
//! their JWTs at once, a timed ban lifts itself when the (injected) clock passes it, and every
//! step is in the audit log, readable over HTTP and with `sigil audit`. The same story runs on
//! SQLite and on PostgreSQL (`SIGIL_TEST_POSTGRES_URL`, a fresh database per test).

use crate::helpers::*;
use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil::cli::{Cli, Run};
use sigil::settings::Settings;
use std::time::Duration;

/// Runs `sigil <args>` (an operator command) on `db` by the test's clock; its printed lines.
async fn sigil_cli(app: &TestApp, db: &str, args: &[&str]) -> Result<Vec<String>, String> {
    let mut argv = vec!["sigil"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--database-url", db]);
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Run::Ops(database, command) = cli.into_run()? else {
        panic!("not an operator command")
    };
    sigil::ops::run_with_clock(database, command, app.clock.shared())
        .await
        .map_err(|e| e.to_string())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn admin_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let auth = bearer(token);
    app.request(
        method,
        &format!("/api/auth/admin{path}"),
        &[("authorization", &auth)],
        body,
    )
    .await
}

async fn the_admin_story(app: TestApp, db: &str) {
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;

    // The user object carries the admin plugin's fields, get-session's too.
    let session = app
        .request(
            Method::GET,
            "/api/auth/get-session",
            &[("authorization", &bearer(&alice.session_token))],
            None,
        )
        .await;
    assert_eq!(session.body["user"]["role"], "user");
    assert_eq!(session.body["user"]["banned"], false);
    assert_eq!(session.body["user"]["banReason"], Value::Null);
    assert_eq!(session.body["user"]["banExpires"], Value::Null);

    // Before she is an administrator: 403 with the plugin's code, and no session at all: 401.
    let refused = admin_call(&app, Method::GET, "/list-users", &alice.session_token, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
    let anonymous = app
        .request(Method::GET, "/api/auth/admin/list-users", &[], None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.code(), "UNAUTHORIZED");
    // Nor can she make herself one through /update-user or sign-up: role and banned are not hers
    // to set (400 FIELD_NOT_ALLOWED, as Better Auth with its admin plugin).
    for body in [
        json!({ "name": "Alice", "role": "admin" }),
        json!({ "name": "Alice", "banned": true }),
        json!({ "banReason": "none" }),
    ] {
        let forged = app
            .request(
                Method::POST,
                "/api/auth/update-user",
                &[("authorization", &bearer(&alice.session_token))],
                Some(body),
            )
            .await;
        assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{:?}", forged.body);
        assert_eq!(forged.code(), "FIELD_NOT_ALLOWED");
    }
    let forged_sign_up = app
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "M", "email": "mallory@example.com", "password": PASSWORD, "role": "admin" }),
        )
        .await;
    assert_eq!(forged_sign_up.code(), "FIELD_NOT_ALLOWED");
    assert_eq!(
        forged_sign_up.body["message"],
        "role is not allowed to be set"
    );
    let still = admin_call(&app, Method::GET, "/list-users", &alice.session_token, None).await;
    assert_eq!(still.status, StatusCode::FORBIDDEN);
    let denied_ban = admin_call(
        &app,
        Method::POST,
        "/ban-user",
        &alice.session_token,
        Some(json!({ "userId": bob.id })),
    )
    .await;
    assert_eq!(denied_ban.code(), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS");

    // The operator makes her one on the server.
    let made = sigil_cli(
        &app,
        db,
        &["users", "set-role", "alice@example.com", "admin"],
    )
    .await
    .unwrap();
    assert!(made[0].contains("role=admin"), "{made:?}");

    // list-users: total, page bounds, search, sort, filter.
    let all = admin_call(&app, Method::GET, "/list-users", &alice.session_token, None).await;
    assert_eq!(all.status, StatusCode::OK, "{:?}", all.body);
    assert_eq!(all.body["total"], 3);
    assert_eq!(all.body["users"].as_array().unwrap().len(), 3);
    let roles: Vec<(&str, &str)> = all.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert!(roles.contains(&("alice@example.com", "admin")), "{roles:?}");
    assert!(roles.contains(&("bob@example.com", "user")), "{roles:?}");
    let page = admin_call(
        &app,
        Method::GET,
        "/list-users?limit=1&offset=1&sortBy=email&sortDirection=desc",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(page.body["total"], 3);
    assert_eq!(page.body["limit"], 1);
    assert_eq!(page.body["offset"], 1);
    assert_eq!(page.body["users"][0]["email"], "bob@example.com");
    let huge = admin_call(
        &app,
        Method::GET,
        "/list-users?limit=99999999999",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(huge.status, StatusCode::OK);
    assert_eq!(huge.body["limit"], 500, "a page is bounded");
    let found = admin_call(
        &app,
        Method::GET,
        "/list-users?searchValue=CAR&searchField=email&searchOperator=starts_with",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(found.body["total"], 1);
    assert_eq!(found.body["users"][0]["id"], carol.id.as_str());
    let wildcard = admin_call(
        &app,
        Method::GET,
        "/list-users?searchValue=%25",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(
        wildcard.body["total"], 0,
        "% is a character, not a wildcard"
    );
    let admins = admin_call(
        &app,
        Method::GET,
        "/list-users?filterField=role&filterValue=admin&filterOperator=eq",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(admins.body["total"], 1);
    for bad in [
        "/list-users?sortBy=password",
        "/list-users?sortBy=email;DROP%20TABLE%20users",
        "/list-users?filterField=token_hash&filterValue=x",
        "/list-users?filterField=banned&filterValue=maybe",
        "/list-users?filterField=createdAt&filterValue=1&filterOperator=contains",
        "/list-users?limit=-1",
        "/list-users?sortDirection=sideways&sortBy=email",
    ] {
        let answer = admin_call(&app, Method::GET, bad, &alice.session_token, None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            answer.body
        );
        assert_eq!(answer.code(), "VALIDATION_ERROR", "{bad}");
    }

    // get-user, unknown ids.
    let got = admin_call(
        &app,
        Method::GET,
        &format!("/get-user?id={}", bob.id),
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(got.body["email"], "bob@example.com");
    let missing = admin_call(
        &app,
        Method::GET,
        "/get-user?id=nobody",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "USER_NOT_FOUND");

    // A ban for an hour: Bob's sessions end, his JWT is refused at once, he cannot sign in.
    let tasks = format!("/api/{}/tasks", bob.id);
    let before = app.api(Method::GET, &tasks, Some(&bob.jwt), None).await;
    assert_eq!(before.status, StatusCode::OK);
    let banned = admin_call(
        &app,
        Method::POST,
        "/ban-user",
        &alice.session_token,
        Some(json!({ "userId": bob.id, "banReason": "spam", "banExpiresIn": 3600 })),
    )
    .await;
    assert_eq!(banned.status, StatusCode::OK, "{:?}", banned.body);
    assert_eq!(banned.body["user"]["banned"], true);
    assert_eq!(banned.body["user"]["banReason"], "spam");
    assert!(banned.body["user"]["banExpires"].is_string());
    let after = app.api(Method::GET, &tasks, Some(&bob.jwt), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{:?}", after.body);
    let gone = app
        .request(
            Method::GET,
            "/api/auth/get-session",
            &[("authorization", &bearer(&bob.session_token))],
            None,
        )
        .await;
    assert_eq!(gone.body, Value::Null);
    let refused = app.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "BANNED_USER");
    assert!(refused.headers.get("set-cookie").is_none());
    // A wrong password says nothing about the ban.
    let wrong = app
        .sign_in("bob@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "INVALID_EMAIL_OR_PASSWORD");
    let sessions = admin_call(
        &app,
        Method::POST,
        "/list-user-sessions",
        &alice.session_token,
        Some(json!({ "userId": bob.id })),
    )
    .await;
    assert_eq!(sessions.body["sessions"], json!([]));

    // Self-ban and self-removal are refused.
    let selfie = admin_call(
        &app,
        Method::POST,
        "/ban-user",
        &alice.session_token,
        Some(json!({ "userId": alice.id })),
    )
    .await;
    assert_eq!(selfie.code(), "YOU_CANNOT_BAN_YOURSELF");
    let self_remove = admin_call(
        &app,
        Method::POST,
        "/remove-user",
        &alice.session_token,
        Some(json!({ "userId": alice.id })),
    )
    .await;
    assert_eq!(self_remove.code(), "YOU_CANNOT_REMOVE_YOURSELF");

    // The hour passes on the server's clock: the ban lifts itself at the next sign-in.
    app.clock.advance(Duration::from_secs(3601));
    let back = app.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert_eq!(back.body["user"]["banned"], false);

    // A ban without expiry from the command line, lifted from the command line.
    let cli_ban = sigil_cli(
        &app,
        db,
        &["users", "ban", &carol.id, "--reason", "chargeback"],
    )
    .await
    .unwrap();
    assert!(cli_ban[0].contains("banned"), "{cli_ban:?}");
    let carol_api = app
        .api(
            Method::GET,
            &format!("/api/{}/tasks", carol.id),
            Some(&carol.jwt),
            None,
        )
        .await;
    assert_eq!(carol_api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.sign_in("carol@example.com", PASSWORD).await.code(),
        "BANNED_USER"
    );
    let listed = sigil_cli(&app, db, &["users", "list", "--banned"])
        .await
        .unwrap();
    assert!(listed[0].contains(&carol.id), "{listed:?}");
    sigil_cli(&app, db, &["users", "unban", "carol@example.com"])
        .await
        .unwrap();
    assert_eq!(
        app.sign_in("carol@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let revoked = sigil_cli(&app, db, &["sessions", "revoke", "--user", &carol.id])
        .await
        .unwrap();
    assert!(revoked[0].starts_with("1 session(s)"), "{revoked:?}");

    // set-role and update-user by the administrator; a password through update-user is refused.
    let role = admin_call(
        &app,
        Method::POST,
        "/set-role",
        &alice.session_token,
        Some(json!({ "userId": carol.id, "role": ["editor", "user"] })),
    )
    .await;
    assert_eq!(role.body["user"]["role"], "editor,user");
    let bad_role = admin_call(
        &app,
        Method::POST,
        "/set-role",
        &alice.session_token,
        Some(json!({ "userId": carol.id, "role": ["a,b' OR 1=1"] })),
    )
    .await;
    assert_eq!(bad_role.code(), "INVALID_ROLE_TYPE");
    let pw = admin_call(
        &app,
        Method::POST,
        "/update-user",
        &alice.session_token,
        Some(json!({ "userId": carol.id, "data": { "password": "x" } })),
    )
    .await;
    assert_eq!(pw.code(), "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER");
    let renamed = admin_call(
        &app,
        Method::POST,
        "/update-user",
        &alice.session_token,
        Some(json!({ "userId": carol.id, "data": { "name": "Carol C." } })),
    )
    .await;
    assert_eq!(renamed.body["name"], "Carol C.");

    // create-user and set-user-password, then the new user signs in.
    let created = admin_call(
        &app,
        Method::POST,
        "/create-user",
        &alice.session_token,
        Some(json!({ "email": "Dan@Example.com", "name": "Dan", "password": PASSWORD })),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    assert_eq!(created.body["user"]["email"], "dan@example.com");
    assert_eq!(created.body["user"]["role"], "user");
    let dan_id = created.body["user"]["id"].as_str().unwrap().to_owned();
    let again = admin_call(
        &app,
        Method::POST,
        "/create-user",
        &alice.session_token,
        Some(json!({ "email": "dan@example.com", "name": "Dan" })),
    )
    .await;
    assert_eq!(again.code(), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let set = admin_call(
        &app,
        Method::POST,
        "/set-user-password",
        &alice.session_token,
        Some(json!({ "userId": dan_id, "newPassword": "another long passphrase" })),
    )
    .await;
    assert_eq!(set.body, json!({ "status": true }));
    assert_eq!(
        app.sign_in("dan@example.com", "another long passphrase")
            .await
            .status,
        StatusCode::OK
    );

    // has-permission answers for the caller.
    let may = admin_call(
        &app,
        Method::POST,
        "/has-permission",
        &alice.session_token,
        Some(json!({ "permissions": { "user": ["ban", "list"] } })),
    )
    .await;
    assert_eq!(may.body, json!({ "error": null, "success": true }));
    let carol_token = app.sign_in("carol@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let may_not = admin_call(
        &app,
        Method::POST,
        "/has-permission",
        &carol_token,
        Some(json!({ "permissions": { "user": ["ban"] } })),
    )
    .await;
    assert_eq!(may_not.body["success"], false);

    // remove-user: the account and its sessions go.
    let removed = admin_call(
        &app,
        Method::POST,
        "/remove-user",
        &alice.session_token,
        Some(json!({ "userId": dan_id })),
    )
    .await;
    assert_eq!(removed.body, json!({ "success": true }));
    let unknown = admin_call(
        &app,
        Method::POST,
        "/remove-user",
        &alice.session_token,
        Some(json!({ "userId": dan_id })),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // The audit log: over HTTP (administrators only) and from the command line.
    let log = admin_call(
        &app,
        Method::GET,
        &format!("/audit-log?userId={}", bob.id),
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let events: Vec<(String, String)> = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("sign_up", "success"),
        ("sign_in", "success"),
        ("user.banned", "success"),
        ("sign_in", "failure"),
        ("user.unbanned", "success"),
    ] {
        assert!(
            events.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {events:?}"
        );
    }
    let ban_row = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "user.banned")
        .unwrap();
    assert_eq!(ban_row["actorId"], alice.id.as_str());
    assert_eq!(ban_row["detail"]["reason"], "spam");
    // Alice's refused attempts, from before she was an administrator, are on her record.
    let hers = admin_call(
        &app,
        Method::GET,
        &format!("/audit-log?userId={}&limit=1000", alice.id),
        &alice.session_token,
        None,
    )
    .await;
    let denied: Vec<&Value> = hers.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "admin.denied")
        .collect();
    assert!(
        denied.iter().any(|e| e["outcome"] == "denied"
            && e["detail"]["action"] == "user:ban"
            && e["actorId"] == alice.id.as_str()),
        "{denied:?}"
    );
    let not_admin = admin_call(&app, Method::GET, "/audit-log", &carol_token, None).await;
    assert_eq!(not_admin.code(), "YOU_ARE_NOT_ALLOWED_TO_READ_AUDIT_LOG");
    let since = admin_call(
        &app,
        Method::GET,
        "/audit-log?since=yesterday",
        &alice.session_token,
        None,
    )
    .await;
    assert_eq!(since.status, StatusCode::BAD_REQUEST);

    let cli_log = sigil_cli(
        &app,
        db,
        &["audit", "--user", &carol.id, "--since", "1d", "--json"],
    )
    .await
    .unwrap();
    let cli_events: Vec<Value> = cli_log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        cli_events
            .iter()
            .any(|e| e["event"] == "user.banned" && e["actorId"] == "cli"),
        "{cli_log:?}"
    );
    // Nothing secret in the log: no password, no session token, no hash.
    let everything = sigil_cli(&app, db, &["audit", "--limit", "1000", "--json"])
        .await
        .unwrap()
        .join("\n");
    for secret in [
        PASSWORD,
        "another long passphrase",
        alice.session_token.as_str(),
        bob.session_token.as_str(),
        "$argon2",
    ] {
        assert!(!everything.contains(secret), "{secret} in the audit log");
    }

    // Bad CLI input: an unknown user, an unparsable --since.
    let err = sigil_cli(&app, db, &["users", "ban", "nobody@example.com"])
        .await
        .unwrap_err();
    assert!(err.contains("no such user"), "{err}");
    let err = sigil_cli(&app, db, &["audit", "--since", "last tuesday"])
        .await
        .unwrap_err();
    assert!(err.contains("--since"), "{err}");
}

#[tokio::test]
async fn an_administrator_manages_users_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir);
    let app = spawn_settings(test_settings(&dir), dir).await;
    the_admin_story(app, &db).await;
}

#[tokio::test]
async fn an_administrator_manages_users_on_postgres() {
    let Some(db) = FreshDatabase::create("sigil_admin_test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings: Settings = test_settings(&dir);
    settings.common.database_url = db.url.clone().into();
    settings.auth.secret = Some("a-shared-secret-for-every-instance-0123456789".into());
    let app = spawn_settings(settings, dir).await;
    the_admin_story(app, &db.url).await;
    db.drop_now().await;
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sigil.db").display())
}

#[tokio::test]
async fn administrators_can_be_named_by_other_roles_and_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir);
    let mut settings = test_settings(&dir);
    settings.auth.admin_roles = vec!["ops".to_owned()];
    let app = spawn_settings(settings, dir).await;
    let olga = app.user("olga@example.com").await;
    sigil_cli(&app, &db, &["users", "set-role", &olga.id, "admin"])
        .await
        .unwrap();
    // "admin" is not an administrator role on this server.
    let refused = admin_call(&app, Method::GET, "/list-users", &olga.session_token, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    sigil_cli(&app, &db, &["users", "set-role", &olga.id, "ops,user"])
        .await
        .unwrap();
    let allowed = admin_call(&app, Method::GET, "/list-users", &olga.session_token, None).await;
    assert_eq!(allowed.status, StatusCode::OK, "{:?}", allowed.body);

    // SIGIL_ADMIN_USER_IDS: the id exists once the user signed up, so the server restarts on the
    // same database with it.
    let pat = app.user("pat@example.com").await;
    let dir = app.stop().await;
    let mut settings = test_settings(&dir);
    settings.auth.admin_user_ids = vec![pat.id.clone()];
    let app = spawn_settings(settings, dir).await;
    let allowed = admin_call(&app, Method::GET, "/list-users", &pat.session_token, None).await;
    assert_eq!(allowed.status, StatusCode::OK, "{:?}", allowed.body);
    let pat_row = allowed.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == pat.id.as_str())
        .unwrap();
    assert_eq!(
        pat_row["role"], "user",
        "an administrator by id keeps their role"
    );
}
