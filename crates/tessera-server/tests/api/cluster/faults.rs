//! Faults: Redis or Postgres going away under two running instances, and coming back.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::Value;
use tessera_core::SessionId;

use super::support::{
    cache_toml, check, eventually, logout, readyz, spawn_pair, str_of, unique_email, wait_status,
    Credential, PgDatabase, PrivateRedis, PATIENCE, RECONNECT_PATIENCE,
};
use super::{propagated, propagated_within, session_of};
use crate::helpers::{TestApp, PASSWORD};

/// A login attempt with a wrong password, answered without a 5xx.
async fn failed_login(app: &TestApp, email: &str) -> reqwest::Response {
    let r = app.login(email, "not the password").await;
    assert!(
        !r.status().is_server_error(),
        "failed login: {}",
        r.status()
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_degrades_and_the_restart_resyncs_revocations() {
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let extra = format!(
        "{}[limits]\nlogin_per_account = \"3/min\"\n",
        cache_toml(&redis.url())
    );
    let (a, b) = spawn_pair(db.url(), &extra).await;
    wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
    let email = unique_email();
    a.create_user(&email).await;
    let (session_token, _) = a.login_body(&email).await;
    let grant = a.token_pair(&email).await;
    let tss = Credential::Bearer(session_token);
    let jwt = Credential::Bearer(str_of(&grant, "access_token").to_owned());
    for credential in [&tss, &jwt] {
        assert_eq!(check(&b, credential).await, StatusCode::OK);
        assert_eq!(check(&a, credential).await, StatusCode::OK);
    }
    let sessions = [session_of(&a, &tss).await, session_of(&a, &jwt).await];

    redis.kill();
    let took = wait_status(&[&a, &b], "degraded", PATIENCE).await;
    println!("redis killed: both instances degraded after {took:?}");
    for app in [&a, &b] {
        let (status, body) = readyz(app).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["checks"]["feed"]["ok"], false, "{body}");
        assert_eq!(body["checks"]["feed"]["transport"], "redis", "{body}");
        assert_eq!(body["checks"]["store"]["ok"], true, "{body}");
    }

    // Service continues without Redis: logins and checks on both instances.
    let (other_token, _) = b.login_body(&email).await;
    let other = Credential::Bearer(other_token);
    for credential in [&tss, &jwt, &other] {
        assert_eq!(check(&a, credential).await, StatusCode::OK);
        assert_eq!(check(&b, credential).await, StatusCode::OK);
    }
    // Failed-login throttling falls back to the instance's own counter: still limited, no 5xx.
    let target = unique_email();
    for attempt in 1..=3 {
        let r = failed_login(&a, &target).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let r = failed_login(&a, &target).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the local throttle took over"
    );
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    // Logout on A while the feed is down: A knows at once, B cannot be told yet.
    logout(&a, &tss, None).await;
    logout(&a, &jwt, None).await;
    for credential in [&tss, &jwt] {
        assert_eq!(check(&a, credential).await, StatusCode::UNAUTHORIZED);
    }
    println!(
        "redis down, after logout on A: B answers {} to the JWT (B cannot know yet)",
        check(&b, &jwt).await
    );

    let restarted = Instant::now();
    redis.spawn().await.expect("restart redis-server");
    // The resubscribe's Resync reloads revocations from Postgres.
    for (what, credential, session) in [
        ("redis restart: access JWT on B", &jwt, sessions[1]),
        ("redis restart: tss_ token on B", &tss, sessions[0]),
    ] {
        propagated_within(&b, credential, session, what, RECONNECT_PATIENCE).await;
    }
    println!(
        "redis restart: B refuses both after {:?} (from the restart)",
        restarted.elapsed()
    );
    let took = wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
    println!("redis restart: both instances ready again {took:?} later");

    // And the live feed works again. A's publisher fails fast until its background reconnect
    // gets through (a publish in that moment is queued and sent then, as one to a dead Redis
    // is), so first wait until it publishes directly again; a random session id is harmless.
    let took = eventually("A publishes again", RECONNECT_PATIENCE, || async {
        let now = time::OffsetDateTime::now_utc();
        a.state.feed.publish(SessionId::random(), now).await.is_ok()
    })
    .await;
    println!("redis restart: A's publisher usable again {took:?} later");
    let again = Credential::Bearer(str_of(&a.token_pair(&email).await, "access_token").to_owned());
    assert_eq!(check(&b, &again).await, StatusCode::OK);
    let session = session_of(&a, &again).await;
    logout(&a, &again, None).await;
    propagated(&b, &again, session, "redis restarted: access JWT on B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_unready_then_recovers_by_itself() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (a, b) = spawn_pair(db.url(), "").await;
    wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
    let email = unique_email();
    a.create_user(&email).await;

    let name = db.name();
    db.admin(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
    ))
    .await;
    db.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .await;
    let took = eventually("/readyz says 503", PATIENCE, || async {
        let (status, _) = readyz(&a).await;
        let (status_b, _) = readyz(&b).await;
        status == StatusCode::SERVICE_UNAVAILABLE && status_b == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    println!("postgres cut off: both instances unready after {took:?}");
    for app in [&a, &b] {
        let (_, body) = readyz(app).await;
        assert_eq!(body["error"], "unavailable", "{body}");
        assert_eq!(body["checks"]["store"]["ok"], false, "{body}");
    }

    // Logins cannot work without the store: 503 `unavailable`, never another 5xx or a 401.
    let r = a.login(&email, PASSWORD).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    let r = b.grant_password(&email, PASSWORD).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");

    let restored = Instant::now();
    db.admin(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
    ))
    .await;
    let took = eventually("/readyz says 200", PATIENCE, || async {
        readyz(&a).await.0 == StatusCode::OK && readyz(&b).await.0 == StatusCode::OK
    })
    .await;
    println!("postgres back: both instances ready (200) after {took:?}");
    a.login_body(&email).await;
    // The LISTEN connection comes back too, and with it propagation.
    let took = wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
    println!(
        "postgres back: feeds reconnected {took:?} later ({:?} after the restore)",
        restored.elapsed()
    );
    let grant = a.token_pair(&email).await;
    let jwt = Credential::Bearer(str_of(&grant, "access_token").to_owned());
    assert_eq!(check(&b, &jwt).await, StatusCode::OK);
    let session = session_of(&a, &jwt).await;
    logout(&a, &jwt, None).await;
    propagated(&b, &jwt, session, "postgres back: access JWT on B").await;
}
