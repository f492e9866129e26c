//! The session cache shared through Redis (`cache.url`): two instances on one fresh Postgres
//! database. What one instance read from the store, the other serves from Redis; what one
//! instance revokes, neither serves from Redis again. Real Postgres and Redis on 127.0.0.1,
//! skipped when absent unless CI is set.
//!
//! Which level answered a check is read from the instance's own counters
//! (`state.shared_sessions.stats()`): `/metrics` is process-wide, shared by every test.

use std::time::Instant;

use redis::aio::MultiplexedConnection;
use reqwest::StatusCode;
use serde_json::Value;
use tessera_core::{SessionId, TestClock, TokenHash};
use tessera_engine::session_cache::{SharedSessions, SharedStats};
use tessera_engine::tokens::is_revoked;
use tessera_store::RedisSessionCache;
use uuid::Uuid;

use crate::cluster::support::{
    cache_toml, check, eventually, logout, redis_available, spawn_pair, str_of, unique_email,
    wait_status, Credential, PgDatabase, PrivateRedis, PATIENCE, RECONNECT_PATIENCE, SHARED_REDIS,
};
use crate::helpers::{admin_toml, spawn_instance, Auth, TestApp, ADMIN, PASSWORD};

/// Two instances sharing the Redis at `redis_url` on a fresh database; instances drop first.
struct Pair {
    a: TestApp,
    b: TestApp,
    redis: Redis,
    _db: PgDatabase,
}

/// A plain connection to the instances' Redis and the key layout they use there.
struct Redis {
    conn: MultiplexedConnection,
    keys: RedisSessionCache,
}

impl Redis {
    async fn connect(url: &str) -> Self {
        let conn = redis::Client::open(url)
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        Self {
            conn,
            // Only for the key layout: nothing is read through it.
            keys: RedisSessionCache::new(url, [0; 32]).expect("key layout"),
        }
    }

    /// The stored record of the session whose secret is `token`.
    async fn record(&self, token: &str) -> Option<Vec<u8>> {
        let key = self.keys.record_key(&TokenHash::of(token));
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .expect("GET")
    }

    async fn restore(&self, token: &str, record: &[u8]) {
        let key = self.keys.record_key(&TokenHash::of(token));
        let () = redis::cmd("SET")
            .arg(key)
            .arg(record)
            .arg("EX")
            .arg(60)
            .query_async(&mut self.conn.clone())
            .await
            .expect("SET");
    }

    async fn pttl(&self, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .expect("PTTL")
    }

    async fn revoked_mark(&self, session: SessionId) -> bool {
        let key = self.keys.revoked_key(session);
        self.pttl(&key).await > 0
    }
}

impl Pair {
    /// On the shared Redis; `None` when a service is absent and CI is not set.
    async fn start(extra_toml: &str) -> Option<Self> {
        if !redis_available(SHARED_REDIS).await {
            return None;
        }
        let db = PgDatabase::create().await?;
        let extra = format!("{}{extra_toml}", cache_toml(SHARED_REDIS));
        let (a, b) = spawn_pair(db.url(), &extra).await;
        wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
        Some(Self {
            a,
            b,
            redis: Redis::connect(SHARED_REDIS).await,
            _db: db,
        })
    }
}

fn shared(app: &TestApp) -> &SharedSessions {
    app.state
        .sessions
        .shared()
        .map(AsRef::as_ref)
        .expect("cache.url is set, so there is a shared session cache")
}

fn stats(app: &TestApp) -> SharedStats {
    shared(app).stats()
}

/// A `tss_` session of `email` opened on `app`: the token and the session id.
async fn tss_session(app: &TestApp, email: &str) -> (String, SessionId) {
    let (token, body) = app.login_body(email).await;
    let id = SessionId(Uuid::parse_str(str_of(&body["session"], "id")).expect("session id"));
    (token, id)
}

fn bearer(token: &str) -> Credential {
    Credential::Bearer(token.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_read_from_the_store_on_a_is_served_on_b_from_redis() {
    let Some(pair) = Pair::start("").await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let email = unique_email();
    a.create_user(&email).await;
    let (token, _) = tss_session(a, &email).await;
    let (cookie, _, _) = a.login_cookie(&email).await;
    let cookie_secret = cookie.split_once('=').expect("name=value").1.to_owned();
    assert_eq!(
        pair.redis.record(&token).await,
        None,
        "a login fills nothing"
    );

    // A: neither cache has it, so the store answers and A fills Redis.
    let before = stats(a);
    assert_eq!(check(a, &bearer(&token)).await, StatusCode::OK);
    assert_eq!(
        check(a, &Credential::Cookie(cookie.clone())).await,
        StatusCode::OK
    );
    let after = stats(a);
    assert_eq!(after.fills - before.fills, 2, "A filled both: {after:?}");
    assert_eq!(
        after.hits, before.hits,
        "A found nothing in Redis: {after:?}"
    );
    for secret in [&token, &cookie_secret] {
        let record = pair.redis.record(secret).await.expect("a record in Redis");
        assert!(record.starts_with(br#"{"v":4,"#));
        assert!(!String::from_utf8_lossy(&record).contains(secret.as_str()));
        let ttl = pair
            .redis
            .pttl(&pair.redis.keys.record_key(&TokenHash::of(secret)))
            .await;
        assert!(ttl > 0 && ttl <= 60_000, "TTL {ttl} ms");
    }

    // B: its own cache is empty; Redis answers, the store is not asked.
    let before = stats(b);
    assert_eq!(check(b, &bearer(&token)).await, StatusCode::OK);
    assert_eq!(
        check(b, &Credential::Cookie(cookie.clone())).await,
        StatusCode::OK
    );
    let after = stats(b);
    assert_eq!(
        after.hits - before.hits,
        2,
        "B served both from Redis: {after:?}"
    );
    assert_eq!(after.misses, before.misses, "{after:?}");
    assert_eq!(
        after.fills, before.fills,
        "nothing for B to fill: {after:?}"
    );
    // And then from its own cache.
    assert_eq!(check(b, &bearer(&token)).await, StatusCode::OK);
    assert_eq!(
        stats(b).hits,
        after.hits,
        "the second check on B stays in-process"
    );

    let me: Value = b
        .get_session(Auth::Cookie(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["user"]["email"],
        email.as_str(),
        "the record carries the user"
    );

    let metrics = b.metrics().text().await;
    assert!(
        metrics.contains(r#"tessera_session_cache_total{result="shared_hit"}"#),
        "{metrics}"
    );
}

/// Someone who can write to Redis but not read the store copies a real record, points it at a
/// secret of their own choosing and stores it under that secret's key: neither instance
/// accepts it, because the record's tag is under a key that lives in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_forged_in_redis_does_not_open_a_session() {
    let Some(pair) = Pair::start("").await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let email = unique_email();
    a.create_user(&email).await;
    let (token, _) = tss_session(a, &email).await;
    assert_eq!(check(a, &bearer(&token)).await, StatusCode::OK);
    let genuine = pair.redis.record(&token).await.expect("a record in Redis");

    let chosen = format!("tss_{}", "A".repeat(43));
    let real_hex = pair.redis.keys.record_key(&TokenHash::of(&token));
    let chosen_hex = pair.redis.keys.record_key(&TokenHash::of(&chosen));
    let hex_of = |key: &str| key[key.len() - 64..].to_owned();
    let forged = String::from_utf8(genuine)
        .unwrap()
        .replace(&hex_of(&real_hex), &hex_of(&chosen_hex));
    pair.redis.restore(&chosen, forged.as_bytes()).await;
    // And with the tag stripped, as a forger without the key would write it.
    let mut untagged: Value = serde_json::from_str(&forged).unwrap();
    untagged.as_object_mut().unwrap().remove("mac");
    for record in [forged.clone(), untagged.to_string()] {
        pair.redis.restore(&chosen, record.as_bytes()).await;
        for app in [a, b] {
            assert_eq!(check(app, &bearer(&chosen)).await, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_write_updates_the_record() {
    let Some(pair) = Pair::start("[session]\nidle_timeout = \"10m\"\n").await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let email = unique_email();
    a.create_user(&email).await;
    let (token, _) = tss_session(a, &email).await;
    assert_eq!(check(a, &bearer(&token)).await, StatusCode::OK);
    let first: Value = serde_json::from_slice(&pair.redis.record(&token).await.unwrap()).unwrap();

    // Past a tenth of the idle timeout, a check writes the activity; the record follows.
    a.clock.advance(time::Duration::minutes(2));
    assert_eq!(check(a, &bearer(&token)).await, StatusCode::OK);
    let touched: Value = serde_json::from_slice(&pair.redis.record(&token).await.unwrap()).unwrap();
    let moved = |field: &str| touched[field].as_i64().unwrap() - first[field].as_i64().unwrap();
    assert_eq!(moved("last_seen_at"), 120_000, "{first} → {touched}");
    assert_eq!(moved("idle_expires_at"), 120_000, "{first} → {touched}");

    // Past the first idle expiry the session lives on, on B too, from the updated record.
    a.clock.advance(time::Duration::minutes(9));
    let before = stats(b);
    assert_eq!(check(b, &bearer(&token)).await, StatusCode::OK);
    assert_eq!(stats(b).hits - before.hits, 1, "B used the updated record");
}

/// How a test ends the sessions of a user on A.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Logout,
    PasswordChange,
    Lock,
}

/// Sessions `x` (checked on A and on B) and `y` (checked on A only), both in Redis, are ended
/// on A. Neither is served from Redis again: the records are gone at once, and a record put back
/// behind the server's back (a fill that slipped past the delete) is refused by B's revoked set.
async fn ended_sessions_are_not_served_from_redis(ending: Ending) {
    let Some(pair) = Pair::start(&admin_toml()).await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let email = unique_email();
    let user = a.create_user(&email).await;
    let (x, x_id) = tss_session(a, &email).await;
    let (y, y_id) = tss_session(a, &email).await;
    let (keep, _) = tss_session(a, &email).await;
    for token in [&x, &y] {
        assert_eq!(check(a, &bearer(token)).await, StatusCode::OK);
    }
    let before = stats(b);
    assert_eq!(check(b, &bearer(&x)).await, StatusCode::OK);
    assert_eq!(stats(b).hits - before.hits, 1, "B had x from Redis");
    let x_record = pair.redis.record(&x).await.expect("x in Redis");
    assert!(pair.redis.record(&y).await.is_some(), "y in Redis");

    // The session that ended them, if it lives on: a password change rotates it.
    let mut kept = Some(keep.clone());
    match ending {
        Ending::Logout => {
            logout(a, &bearer(&x), None).await;
            logout(a, &bearer(&y), None).await;
        }
        Ending::PasswordChange => {
            let response = a
                .change_password(Auth::Bearer(&keep), PASSWORD, "a brand new secret")
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            let successor: Value = response.json().await.unwrap();
            kept = Some(str_of(&successor, "session_token").to_owned());
        }
        Ending::Lock => {
            let response = a.admin_set_locked(ADMIN, str_of(&user, "id"), true).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    // Deleted before the revoke call returned, and marked so no late fill brings them back.
    for (what, token, id) in [("x", &x, x_id), ("y", &y, y_id)] {
        assert_eq!(pair.redis.record(token).await, None, "{ending:?}: {what}");
        assert!(pair.redis.revoked_mark(id).await, "{ending:?}: {what}");
    }
    // y was never in B's own cache: B refuses it at once, from the store, with no feed needed.
    assert_eq!(
        check(b, &bearer(&y)).await,
        StatusCode::UNAUTHORIZED,
        "{ending:?}: y on B"
    );
    // x was: the feed evicts it.
    let start = Instant::now();
    eventually(&format!("{ending:?}: B refuses x"), PATIENCE, || async {
        check(b, &bearer(&x)).await == StatusCode::UNAUTHORIZED
    })
    .await;
    println!("{ending:?}: B refuses x after {:?}", start.elapsed());
    assert!(is_revoked(&b.state, x_id), "{ending:?}: the feed told B");

    // The record comes back anyway: B's revoked set refuses it, and drops it.
    pair.redis.restore(&x, &x_record).await;
    b.state.sessions.clear_local();
    let before = stats(b);
    assert_eq!(
        check(b, &bearer(&x)).await,
        StatusCode::UNAUTHORIZED,
        "{ending:?}"
    );
    let after = stats(b);
    assert_eq!(after.hits, before.hits, "{ending:?}: not a hit: {after:?}");
    assert_eq!(after.misses - before.misses, 1, "{ending:?}: {after:?}");
    assert_eq!(pair.redis.record(&x).await, None, "{ending:?}: dropped");

    if matches!(ending, Ending::Lock) {
        kept = None;
    }
    let expected = if kept.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    assert_eq!(
        check(b, &bearer(kept.as_ref().unwrap_or(&keep))).await,
        expected,
        "{ending:?}: the other session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_a_is_refused_on_b_although_redis_had_the_session() {
    ended_sessions_are_not_served_from_redis(Ending::Logout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_on_a_is_refused_on_b_although_redis_had_the_sessions() {
    ended_sessions_are_not_served_from_redis(Ending::PasswordChange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_on_a_is_refused_on_b_although_redis_had_the_sessions() {
    ended_sessions_are_not_served_from_redis(Ending::Lock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_checks_are_answered_by_the_store() {
    let Some(mut server) = PrivateRedis::start().await else {
        return;
    };
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (a, b) = spawn_pair(db.url(), &cache_toml(&server.url())).await;
    wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
    let email = unique_email();
    a.create_user(&email).await;
    let (token, _) = tss_session(&a, &email).await;
    assert_eq!(check(&a, &bearer(&token)).await, StatusCode::OK);
    assert_eq!(check(&b, &bearer(&token)).await, StatusCode::OK);
    assert_eq!(stats(&b).hits, 1, "Redis was in use");

    server.kill();
    // New sessions, and old ones out of the in-process caches: only the store can answer.
    let (other, _) = tss_session(&b, &email).await;
    for app in [&a, &b] {
        app.state.sessions.clear_local();
        for credential in [bearer(&token), bearer(&other)] {
            assert_eq!(check(app, &credential).await, StatusCode::OK);
        }
        assert!(stats(app).errors >= 1, "{:?}", stats(app));
    }
    // A logout still works, and B, which has no copy of the session, refuses it from the store
    // (B's copies of sessions it did check wait for the feed, as without a shared cache).
    let (gone, _) = tss_session(&a, &email).await;
    assert_eq!(check(&a, &bearer(&gone)).await, StatusCode::OK);
    logout(&a, &bearer(&gone), None).await;
    assert_eq!(check(&b, &bearer(&gone)).await, StatusCode::UNAUTHORIZED);

    server.spawn().await.expect("restart redis-server");
    let fills = stats(&a).fills;
    let (third, _) = tss_session(&a, &email).await;
    let took = eventually("A fills Redis again", PATIENCE, || async {
        a.state.sessions.clear_local();
        assert_eq!(check(&a, &bearer(&third)).await, StatusCode::OK);
        stats(&a).fills > fills
    })
    .await;
    println!("redis restarted: A fills again {took:?} later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_redis_hangs_is_applied_when_it_answers() {
    let Some(server) = PrivateRedis::start().await else {
        return;
    };
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let a = spawn_instance(
        db.url(),
        &cache_toml(&server.url()),
        TestClock::starting_now(),
    )
    .await;
    wait_status(&[&a], "ready", RECONNECT_PATIENCE).await;
    let redis = Redis::connect(&server.url()).await;
    let email = unique_email();
    a.create_user(&email).await;
    let (x, x_id) = tss_session(&a, &email).await;
    let (probe, _) = tss_session(&a, &email).await;
    assert_eq!(check(&a, &bearer(&x)).await, StatusCode::OK);
    assert!(redis.record(&x).await.is_some(), "x in Redis");

    // Redis holds every command for 3 s: the revocation's delete times out, the record stays.
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("ALL")
        .query_async(&mut redis.conn.clone())
        .await
        .expect("CLIENT PAUSE");
    let errors = stats(&a).errors;
    logout(&a, &bearer(&x), None).await;
    assert!(stats(&a).errors > errors, "the delete hit the pause");
    assert_eq!(check(&a, &bearer(&x)).await, StatusCode::UNAUTHORIZED);

    // Once Redis answers A again, A deletes the record after all.
    let start = Instant::now();
    eventually("the record of x is deleted", RECONNECT_PATIENCE, || async {
        a.state.sessions.clear_local();
        assert_eq!(check(&a, &bearer(&probe)).await, StatusCode::OK);
        redis.record(&x).await.is_none()
    })
    .await;
    println!(
        "redis answered again: x deleted {:?} later",
        start.elapsed()
    );
    assert!(redis.revoked_mark(x_id).await);
    drop(a);
}
