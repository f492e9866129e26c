//! Throttles under concurrency and their key spaces: every attempt is counted before the work
//! it guards, so N concurrent guesses get at most the limit verified — counted by the audit
//! events each verification writes, not by statuses.

use std::future::IntoFuture;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use tessera_core::model::AuditQuery;

use crate::cluster::support::{cache_toml, redis_available, unique_email, SHARED_REDIS};
use crate::helpers::{spawn_app_with, Auth, Backend, Call, TestApp, ADMIN_KEY, PASSWORD};
use crate::on_every_backend;

on_every_backend!(
    concurrent_wrong_passwords_verify_at_most_the_account_limit,
    concurrent_password_change_guesses_verify_at_most_the_limit,
    every_spelling_of_an_address_shares_one_budget,
    no_login_name_reaches_the_password_change_budget,
    ipv6_clients_are_counted_per_64,
    signups_are_limited_per_address_and_globally,
    concurrent_signups_create_at_most_the_limit,
    wrong_admin_keys_are_throttled,
    wrong_client_secrets_are_throttled,
);

/// Requests appear to come from the `X-Forwarded-For` address.
const BEHIND_PROXY: &str = "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

/// How many audit events of `kind` the app wrote: one per verification that ran.
async fn events(app: &TestApp, kind: &str) -> usize {
    app.state
        .store
        .list_events(&AuditQuery {
            user_id: None,
            kind: Some(kind.to_owned()),
            before_id: None,
            limit: 10_000,
        })
        .await
        .expect("audit log")
        .len()
}

fn statuses(responses: &[reqwest::Response]) -> (usize, usize) {
    let refused = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    (responses.len() - refused, refused)
}

async fn send_all(calls: impl IntoIterator<Item = Call>) -> Vec<reqwest::Response> {
    join_all(calls.into_iter().map(IntoFuture::into_future)).await
}

fn wrong_login(app: &TestApp, email: &str, n: usize) -> Call {
    app.login_via("body", email, &format!("guess number {n}"))
}

async fn concurrent_wrong_passwords_verify_at_most_the_account_limit(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[limits]\nlogin_per_account = \"5/min\"\nlogin_per_ip = \"1000/min\"",
    )
    .await;
    app.create_user("victim@example.com").await;
    let responses = send_all((0..40).map(|n| wrong_login(&app, "victim@example.com", n))).await;
    let (answered, refused) = statuses(&responses);
    let verified = events(&app, "login_failed").await;
    assert!(verified <= 5, "{verified} guesses were verified");
    assert_eq!(
        answered, verified,
        "every answered guess was a verification"
    );
    assert_eq!(refused, 40 - verified);
    // The right password waits out the window too: it gets no verification either.
    let r = app.login("victim@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(events(&app, "login_succeeded").await, 0);
}

async fn concurrent_password_change_guesses_verify_at_most_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, "[limits]\npassword_change_per_user = \"3/min\"").await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let guesses = (0..30).map(|n| {
        app.change_password(
            Auth::Bearer(&token),
            &format!("stolen session guess {n}"),
            "a brand new passphrase",
        )
    });
    let responses = send_all(guesses).await;
    let verified = events(&app, "password_change_failed").await;
    assert!(verified <= 3, "{verified} guesses were verified");
    let (_, refused) = statuses(&responses);
    assert_eq!(refused, 30 - verified);
}

async fn every_spelling_of_an_address_shares_one_budget(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[limits]\nlogin_per_account = \"3/min\"\nlogin_per_ip = \"1000/min\"",
    )
    .await;
    let nfc = "jos\u{e9}@example.com";
    let nfd = "JOSE\u{301}@example.com";
    app.create_user(nfc).await;
    for n in 0..3 {
        let r = wrong_login(&app, nfc, n).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = wrong_login(&app, nfd, 3).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the NFD spelling reaches the same account, so it has no budget of its own"
    );
}

async fn no_login_name_reaches_the_password_change_budget(backend: Backend) {
    let app = spawn_app_with(backend, "[limits]\nlogin_per_ip = \"1000/min\"").await;
    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    // Names that spelled the password-change throttle's keys in earlier versions.
    for name in [format!("password-change:{id}"), format!("user:{id}")] {
        for n in 0..6 {
            let r = wrong_login(&app, &name, n).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let (token, _) = app.login_body("ada@example.com").await;
    let r = app
        .change_password(Auth::Bearer(&token), PASSWORD, "a brand new passphrase")
        .await;
    assert!(r.status().is_success(), "{}", r.status());
}

async fn ipv6_clients_are_counted_per_64(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &format!("{BEHIND_PROXY}[limits]\nlogin_per_ip = \"3/min\""),
    )
    .await;
    let from = |ip: &str, n: usize| {
        wrong_login(&app, &format!("nobody{n}@example.com"), n).forwarded_for(ip)
    };
    for (n, ip) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::9"]
        .iter()
        .enumerate()
    {
        let r = from(ip, n).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = from("2001:db8:1:2:ffff::1", 3).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "another address of the same /64 shares its budget"
    );
    let r = from("2001:db8:1:3::1", 4).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the next /64 has its own"
    );
}

fn signup(app: &TestApp, email: &str, ip: &str) -> Call {
    app.sign_up(email, PASSWORD).forwarded_for(ip)
}

async fn signups_are_limited_per_address_and_globally(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &format!("{BEHIND_PROXY}[limits]\nsignup_per_ip = \"3/hour\"\nsignup_global = \"5/min\""),
    )
    .await;
    // Attempts count, whatever their outcome: a taken address, a refused password.
    let first = signup(&app, "a@example.com", "192.0.2.1").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let taken = signup(&app, "a@example.com", "192.0.2.1").await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let weak = app
        .sign_up("b@example.com", "short")
        .forwarded_for("192.0.2.1")
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let r = signup(&app, "c@example.com", "192.0.2.1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    // Another address has its own budget, until the global one runs out.
    let r = signup(&app, "c@example.com", "192.0.2.2").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = signup(&app, "d@example.com", "192.0.2.3").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = signup(&app, "e@example.com", "192.0.2.4").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "global limit");
    app.clock.advance(time::Duration::minutes(1));
    let r = signup(&app, "e@example.com", "192.0.2.4").await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the global window has passed"
    );
}

async fn concurrent_signups_create_at_most_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, "[limits]\nsignup_per_ip = \"4/hour\"").await;
    let responses =
        send_all((0..30).map(|n| app.sign_up(&format!("u{n}@example.com"), PASSWORD))).await;
    let created = responses
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let (_, refused) = statuses(&responses);
    assert_eq!(created, 4);
    assert_eq!(refused, 26);
    assert_eq!(events(&app, "user_created").await, 4);
}

/// Concurrent guesses at a cheap secret: exactly `limit` were compared (a compared guess answers
/// 401), every other one was refused before the comparison.
fn assert_compared_at_most(responses: &[reqwest::Response], limit: usize) {
    let compared = responses
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(compared, limit);
    assert_eq!(statuses(responses).1, responses.len() - limit);
}

async fn wrong_admin_keys_are_throttled(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &format!(
            "{BEHIND_PROXY}[admin]\napi_key = \"{ADMIN_KEY}\"\n[limits]\nadmin_key_per_ip = \"3/min\""
        ),
    )
    .await;
    let admin = |key: &str, ip: &str| app.admin_clients(Auth::Bearer(key)).forwarded_for(ip);
    // Concurrent guesses: at most the limit are compared (a compared guess answers 401).
    let guesses = (0..20).map(|n| admin(&format!("{ADMIN_KEY}{n}"), "192.0.2.1"));
    assert_compared_at_most(&send_all(guesses).await, 3);
    let r = admin(ADMIN_KEY, "192.0.2.1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The right key from elsewhere works, and a success is not counted.
    for _ in 0..5 {
        let r = admin(ADMIN_KEY, "192.0.2.2").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

async fn wrong_client_secrets_are_throttled(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &format!("{BEHIND_PROXY}[limits]\nclient_secret_per_ip = \"3/min\""),
    )
    .await;
    let (client, secret) = tessera_engine::clients::create(&app.state, "api", None)
        .await
        .unwrap();
    let id = client.id.to_string();
    let introspect = |secret: &str, ip: &str| {
        app.introspect(Auth::Basic(&id, secret), "tss_whatever")
            .forwarded_for(ip)
    };
    let guesses = (0..20).map(|n| introspect(&format!("tsc_wrong{n}"), "192.0.2.1"));
    assert_compared_at_most(&send_all(guesses).await, 3);
    let r = introspect(secret.expose(), "192.0.2.1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..5 {
        let r = introspect(secret.expose(), "192.0.2.2").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// Two instances, each with its own store but one Redis: guesses spread over both still get
/// one budget, checked and counted in one step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_across_instances_share_one_budget_in_redis() {
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    let extra = format!(
        "{}[limits]\nlogin_per_account = \"5/min\"\n",
        cache_toml(SHARED_REDIS)
    );
    let a = spawn_app_with(Backend::Memory, &extra).await;
    let b = spawn_app_with(Backend::Memory, &extra).await;
    // A fresh address: the account's counter in the shared Redis is this test's alone.
    let email = unique_email();
    a.create_user(&email).await;
    b.create_user(&email).await;
    let guesses = (0..60).map(|n| {
        let app = if n % 2 == 0 { &a } else { &b };
        wrong_login(app, &email, n)
    });
    let responses = send_all(guesses).await;
    let verified = events(&a, "login_failed").await + events(&b, "login_failed").await;
    assert!(verified <= 5, "{verified} guesses were verified");
    assert_eq!(statuses(&responses).1, 60 - verified);
}
