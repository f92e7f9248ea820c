//! Credential stuffing: the per-account throttle (a growing delay for strangers, never a lockout
//! of the owner) and the fair hash queue (one client cannot take the hashing threads from others).
//!
//! Client addresses come from `X-Forwarded-For` (the trusted proxy header setting), so one test
//! can speak from many addresses. Lock windows are timed by a manual clock: no test sleeps.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use sigil_auth::mail::MailKind;
use sigil_auth::throttle::ThrottlePolicy;
use sigil_guard::clock::ManualClock;
use std::time::Duration;
use tokio::task::JoinSet;

const XFF: &str = "x-forwarded-for";
const WRONG: &str = "not the password at all";

impl Server {
    async fn sign_in_from(&self, ip: &str, email: &str, password: &str) -> Answer {
        self.call_with(
            reqwest::Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(json!({ "email": email, "password": password })),
            &[(XFF, ip)],
        )
        .await
    }
}

fn assert_throttled(answer: &Answer, wait: u64) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", answer);
    assert_eq!(
        answer.body,
        json!({ "code": "TOO_MANY_REQUESTS", "message": "Too many requests. Please try again later." })
    );
    assert_eq!(
        answer.header("x-retry-after"),
        Some(wait.to_string().as_str())
    );
    assert!(answer.session_cookie().is_none());
}

fn assert_refused(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer);
    assert_eq!(answer.code(), "INVALID_EMAIL_OR_PASSWORD");
}

#[tokio::test]
async fn wrong_passwords_spread_over_many_addresses_slow_strangers_but_never_the_owner() {
    let clock = ManualClock::starting_now();
    let s = server_with_clock(
        |c| {
            // The per-address rate limit is on, and never triggers: each guess has its own address.
            c.rate_limit = true;
            c.client_ip_header = Some(XFF.parse().unwrap());
        },
        clock.clone(),
    )
    .await;
    let policy = ThrottlePolicy::default();
    let owner = "owner@example.com";
    s.sign_up(owner).await;
    let home = "10.0.0.1";
    assert_eq!(
        s.sign_in_from(home, owner, PASSWORD).await.status,
        StatusCode::OK
    );

    // Five free failures, as many as Better Auth would answer 401: all from different addresses.
    for i in 0..5 {
        assert_refused(
            &s.sign_in_from(&format!("203.0.113.{i}"), owner, WRONG)
                .await,
        );
    }
    // The sixth stranger waits, even with the right password (otherwise the lock would be an
    // oracle), and nothing is hashed for it.
    let hashes = s.hasher.operations();
    assert_throttled(&s.sign_in_from("203.0.113.100", owner, PASSWORD).await, 1);
    assert_eq!(s.hasher.operations(), hashes);
    // The owner, from an address that signed in before, is not slowed at all.
    assert_eq!(
        s.sign_in_from(home, owner, PASSWORD).await.status,
        StatusCode::OK
    );

    // Each further failure doubles the wait, up to 15 minutes.
    let mut wait = 1;
    for k in 0..12u32 {
        clock.advance(Duration::from_secs(wait));
        assert_refused(
            &s.sign_in_from(&format!("198.51.100.{k}"), owner, WRONG)
                .await,
        );
        wait = policy.delay_after(policy.free_failures + 1 + k).as_secs();
        assert_throttled(
            &s.sign_in_from(&format!("198.51.100.{}", 100 + k), owner, WRONG)
                .await,
            wait,
        );
    }
    assert_eq!(wait, 900);
    // A refused attempt does not extend the lock.
    clock.advance(Duration::from_secs(899));
    assert_throttled(&s.sign_in_from("192.0.2.1", owner, WRONG).await, 1);
    clock.advance(Duration::from_secs(1));

    // An unknown email is throttled the same way: the throttle tells nothing about who exists.
    for i in 0..5 {
        assert_refused(
            &s.sign_in_from(
                &format!("203.0.113.{}", 10 + i),
                "nobody@example.com",
                WRONG,
            )
            .await,
        );
    }
    assert_throttled(
        &s.sign_in_from("203.0.113.20", "nobody@example.com", WRONG)
            .await,
        1,
    );

    // Through all of it the owner signs in at once, and a day without failures forgets them.
    assert_eq!(
        s.sign_in_from(home, owner, PASSWORD).await.status,
        StatusCode::OK
    );
    clock.advance(policy.forget_after);
    assert_eq!(
        s.sign_in_from("192.0.2.99", owner, PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_reset_lets_a_new_device_in_while_strangers_are_slowed() {
    let clock = ManualClock::starting_now();
    let s = server_with_clock(
        |c| c.client_ip_header = Some(XFF.parse().unwrap()),
        clock.clone(),
    )
    .await;
    let owner = "rae@example.com";
    s.sign_up(owner).await;
    for i in 0..12 {
        clock.advance(Duration::from_secs(900));
        assert_refused(
            &s.sign_in_from(&format!("203.0.113.{i}"), owner, WRONG)
                .await,
        );
    }
    let phone = "192.0.2.77";
    assert_throttled(&s.sign_in_from(phone, owner, PASSWORD).await, 128);

    // The emailed link proves control of the account: its address may sign in.
    let asked = s
        .call_with(
            reqwest::Method::POST,
            "/request-password-reset",
            &As::Nobody,
            Some(json!({ "email": owner, "redirectTo": "/reset" })),
            &[(XFF, phone)],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    let mail = s.mail(owner, MailKind::ResetPassword).await;
    let new_password = "a brand new passphrase";
    let reset = s
        .call_with(
            reqwest::Method::POST,
            "/reset-password",
            &As::Nobody,
            Some(json!({ "token": mail.token, "newPassword": new_password })),
            &[(XFF, phone)],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
    assert_eq!(
        s.sign_in_from(phone, owner, new_password).await.status,
        StatusCode::OK
    );
    // Strangers still wait.
    assert_eq!(
        s.sign_in_from("203.0.113.200", owner, new_password)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Issue 10 item 4, counted rather than timed: while the hashing threads are held, a flood from
/// one address gets its share of the queue and is refused beyond it before any hashing, a flood
/// on one account from many addresses likewise, and another client is still admitted.
async fn flood_is_bounded_per_client_and_others_keep_their_share(rate_limit: bool) {
    let s = server_with(|c| {
        c.rate_limit = rate_limit;
        c.client_ip_header = Some(XFF.parse().unwrap());
    })
    .await;
    let per_client = s.hasher.limits().per_client;
    let per_account = s.hasher.limits().per_account;
    for email in ["legit@example.com", "target@example.com"] {
        s.sign_up(email).await;
    }
    let s = std::sync::Arc::new(s);
    let hashes = s.hasher.operations();
    let hold = s.hasher.hold();

    // 40 wrong sign-ins at once from one address, each for another email.
    let mut attack = JoinSet::new();
    for i in 0..40 {
        let s = s.clone();
        attack.spawn(async move {
            s.sign_in_from("203.0.113.1", &format!("user{i}@example.com"), WRONG)
                .await
        });
    }
    // With the rate limiter on, it lets 3 through per 10 s; without, the hash queue's bound holds.
    let admitted = if rate_limit { 3 } else { per_client };
    for _ in 0..40 - admitted {
        let answer = attack.join_next().await.unwrap().unwrap();
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
        assert_eq!(answer.code(), "TOO_MANY_REQUESTS");
    }
    until_queued(&s, admitted).await;

    // 10 wrong sign-ins at once for one account, each from its own address.
    let mut on_account = JoinSet::new();
    for i in 0..10 {
        let s = s.clone();
        on_account.spawn(async move {
            s.sign_in_from(&format!("198.51.100.{i}"), "target@example.com", WRONG)
                .await
        });
    }
    for _ in 0..10 - per_account {
        let answer = on_account.join_next().await.unwrap().unwrap();
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    }
    until_queued(&s, admitted + per_account).await;

    // Someone else, from another address, is admitted during both floods.
    let legit = {
        let s = s.clone();
        tokio::spawn(async move {
            s.sign_in_from("192.0.2.10", "legit@example.com", PASSWORD)
                .await
        })
    };
    until_queued(&s, admitted + per_account + 1).await;
    drop(hold);

    assert_eq!(legit.await.unwrap().status, StatusCode::OK);
    for answer in attack.join_all().await {
        assert_refused(&answer);
    }
    for answer in on_account.join_all().await {
        assert_refused(&answer);
    }
    // Exactly one hash per admitted sign-in: the refused ones cost none.
    assert_eq!(
        s.hasher.operations() - hashes,
        u64::try_from(admitted + per_account + 1).unwrap()
    );
}

async fn until_queued(s: &Server, n: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while s.hasher.queued() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("expected {n} hash jobs queued, found {}", s.hasher.queued()));
}

#[tokio::test]
async fn a_flood_from_one_address_is_shed_before_hashing_and_others_keep_their_share() {
    flood_is_bounded_per_client_and_others_keep_their_share(false).await;
}

#[tokio::test]
async fn a_flood_is_bounded_the_same_way_with_the_rate_limiter_on() {
    flood_is_bounded_per_client_and_others_keep_their_share(true).await;
}

/// A flood from more addresses than the queue holds: new addresses get a clean 503 once it is
/// full, but an owner signing in from the address they signed up from is still admitted (into a
/// lane served before the others: `password::tests`).
#[tokio::test]
async fn owners_on_their_usual_address_get_through_a_flood_from_many_addresses() {
    let s = server_with(|c| c.client_ip_header = Some(XFF.parse().unwrap())).await;
    let owner = "owner@example.com";
    // Signed up from 127.0.0.1 (no forwarding header: the peer address), which is now known.
    s.sign_up(owner).await;
    let s = std::sync::Arc::new(s);
    let bound = s.hasher.limits().queued;
    let hold = s.hasher.hold();

    let mut flood = JoinSet::new();
    for i in 0..bound + 40 {
        let s = s.clone();
        flood.spawn(async move {
            let ip = format!("10.{}.{}.1", i / 250, i % 250);
            s.sign_in_from(&ip, &format!("user{i}@example.com"), WRONG)
                .await
        });
    }
    for _ in 0..40 {
        let answer = flood.join_next().await.unwrap().unwrap();
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
        assert_eq!(answer.code(), "SERVICE_BUSY");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    until_queued(&s, bound).await;
    // A new device is one more stranger: the queue is full.
    let new_device = s.sign_in_from("192.0.2.1", owner, PASSWORD).await;
    assert_eq!(new_device.status, StatusCode::SERVICE_UNAVAILABLE);
    // The owner's usual address is not.
    let usual = {
        let s = s.clone();
        tokio::spawn(async move { s.sign_in_from("127.0.0.1", owner, PASSWORD).await })
    };
    until_queued(&s, bound + 1).await;
    drop(hold);
    assert_eq!(usual.await.unwrap().status, StatusCode::OK);
    for answer in flood.join_all().await {
        assert_refused(&answer);
    }
}
