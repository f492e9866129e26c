//! The shared session cache against the Redis on 127.0.0.1:6379 (skipped when it is absent,
//! unless CI is set). Each test works under a prefix of its own.

mod common;

use common::{now_millis, redis_available, PATIENCE};
use redis::aio::MultiplexedConnection;
use tessera_core::StoreError;
use tessera_store::conformance::support::{session, user};
use tessera_store::shared_sessions::REVOKED_MARK_TTL;
use tessera_store::{RedisSessionCache, SessionRecord};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";
const TTL: Duration = Duration::seconds(60);

/// A cache under a prefix of its own and a plain connection to look at what it wrote; `None`
/// when Redis is absent and CI is not set.
async fn setup() -> Option<(RedisSessionCache, MultiplexedConnection)> {
    if !redis_available(SHARED_REDIS).await {
        return None;
    }
    let prefix = format!("tessera:test:{}:", Uuid::new_v4().simple());
    let cache = RedisSessionCache::with_prefix(SHARED_REDIS, &prefix, [7; 32]).expect("cache");
    let conn = redis::Client::open(SHARED_REDIS)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    Some((cache, conn))
}

/// A live session opened at `now`: 30 min idle, 12 h absolute.
fn entry(now: OffsetDateTime) -> SessionRecord {
    let owner = user();
    let mut session = session(&owner, now);
    // A session that used a second factor, so the round trip covers `amr` and `factor_at`.
    session.amr = tessera_core::Amr::PASSWORD.with(tessera_core::AuthnMethod::Otp);
    session.factor_at = Some(now);
    SessionRecord {
        session,
        email: owner.email,
        locked: false,
        roles: tessera_core::Roles::new(["reader"]).unwrap(),
        claims: tessera_core::CustomClaims::default(),
    }
}

async fn pttl(conn: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("PTTL")
}

async fn raw_get(conn: &mut MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("GET")
}

async fn raw_set(conn: &mut MultiplexedConnection, key: &str, value: &[u8]) {
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(60)
        .query_async(conn)
        .await
        .expect("SET");
}

#[tokio::test]
async fn records_round_trip_with_a_ttl_and_an_id_index() {
    let Some((cache, mut conn)) = setup().await else {
        return;
    };
    let now = now_millis();
    let entry = entry(now);
    let hash = entry.session.secret_hash;
    cache.ping().await.expect("ping");
    assert_eq!(cache.get(&hash).await.expect("get"), None, "nothing yet");

    assert!(cache.put(&entry, now, TTL).await.expect("put"));
    assert_eq!(cache.get(&hash).await.expect("get"), Some(entry.clone()));

    let record_key = cache.record_key(&hash);
    let raw = raw_get(&mut conn, &record_key).await.expect("record");
    assert!(raw.starts_with(r#"{"v":4,"#), "{raw}");
    assert!(raw.contains(entry.email.as_str()), "{raw}");
    let ttl = pttl(&mut conn, &record_key).await;
    assert!(
        ttl > 0 && i128::from(ttl) <= TTL.whole_milliseconds(),
        "{ttl}"
    );

    let index_key = cache.index_key(entry.session.id);
    let indexed = raw_get(&mut conn, &index_key).await.expect("index");
    assert!(
        record_key.ends_with(&indexed),
        "{indexed} names {record_key}"
    );
    let ttl = pttl(&mut conn, &index_key).await;
    assert!(
        ttl > 0 && i128::from(ttl) <= TTL.whole_milliseconds(),
        "{ttl}"
    );

    cache.delete(&hash).await.expect("delete");
}

#[tokio::test]
async fn a_record_never_outlives_its_session() {
    let Some((cache, mut conn)) = setup().await else {
        return;
    };
    let now = now_millis();
    let mut idling = entry(now);
    idling.session.idle_expires_at = now + Duration::seconds(2);
    assert!(cache.put(&idling, now, TTL).await.expect("put"));
    let ttl = pttl(&mut conn, &cache.record_key(&idling.session.secret_hash)).await;
    assert!(ttl > 0 && ttl <= 2_000, "idle expiry in 2 s, TTL {ttl} ms");

    let mut ending = entry(now);
    ending.session.expires_at = now + Duration::seconds(3);
    assert!(cache.put(&ending, now, TTL).await.expect("put"));
    let ttl = pttl(&mut conn, &cache.record_key(&ending.session.secret_hash)).await;
    assert!(
        ttl > 0 && ttl <= 3_000,
        "absolute expiry in 3 s, TTL {ttl} ms"
    );

    // What a check would refuse is not stored at all.
    let mut expired = entry(now);
    expired.session.idle_expires_at = now;
    let mut revoked = entry(now);
    revoked.session.revoked_at = Some(now);
    let mut locked = entry(now);
    locked.locked = true;
    for (what, refused) in [
        ("expired", &expired),
        ("revoked", &revoked),
        ("locked", &locked),
    ] {
        assert!(!cache.put(refused, now, TTL).await.expect("put"), "{what}");
        let hash = refused.session.secret_hash;
        assert_eq!(cache.get(&hash).await.expect("get"), None, "{what}");
    }
    assert!(!cache
        .put(&entry(now), now, Duration::ZERO)
        .await
        .expect("put"));

    for stored in [&idling, &ending] {
        cache
            .delete(&stored.session.secret_hash)
            .await
            .expect("delete");
    }
}

#[tokio::test]
async fn delete_drops_the_record() {
    let Some((cache, _conn)) = setup().await else {
        return;
    };
    let now = now_millis();
    let entry = entry(now);
    let hash = entry.session.secret_hash;
    assert!(cache.put(&entry, now, TTL).await.expect("put"));
    cache.delete(&hash).await.expect("delete");
    assert_eq!(cache.get(&hash).await.expect("get"), None);
    cache.delete(&hash).await.expect("deleting nothing is fine");
    // Not a revocation: the session may be stored again.
    assert!(cache.put(&entry, now, TTL).await.expect("put"));
    cache.delete(&hash).await.expect("delete");
}

#[tokio::test]
async fn revoke_finds_the_record_by_session_id_and_keeps_it_out() {
    let Some((cache, mut conn)) = setup().await else {
        return;
    };
    let now = now_millis();
    let entry = entry(now);
    let (id, hash) = (entry.session.id, entry.session.secret_hash);
    assert!(cache.put(&entry, now, TTL).await.expect("put"));

    cache.revoke(id).await.expect("revoke");
    assert_eq!(cache.get(&hash).await.expect("get"), None);
    assert_eq!(raw_get(&mut conn, &cache.index_key(id)).await, None);
    let mark = pttl(&mut conn, &cache.revoked_key(id)).await;
    assert!(
        mark > 0 && i128::from(mark) <= REVOKED_MARK_TTL.whole_milliseconds(),
        "{mark}"
    );
    // A fill that read the store before the revocation arrives late: refused.
    assert!(!cache.put(&entry, now, TTL).await.expect("put"));
    assert_eq!(cache.get(&hash).await.expect("get"), None);

    // Revoking a session that was never cached still keeps it out.
    let other = self::entry(now);
    cache.revoke(other.session.id).await.expect("revoke");
    assert!(!cache.put(&other, now, TTL).await.expect("put"));
}

#[tokio::test]
async fn garbage_is_an_error_never_a_hit() {
    let Some((cache, mut conn)) = setup().await else {
        return;
    };
    let now = now_millis();
    let entry = entry(now);
    let hash = entry.session.secret_hash;
    let key = cache.record_key(&hash);
    assert!(cache.put(&entry, now, TTL).await.expect("put"));
    let good = raw_get(&mut conn, &key).await.expect("record");

    let tampered_hash = good.replace(
        &key[key.len() - 64..],
        "00000000000000000000000000000000000000000000000000000000000000ff",
    );
    let bad_email = good.replace(entry.email.as_str(), "not an email");
    for (what, value) in [
        ("bytes that are not JSON", b"\xff\xfe garbage".to_vec()),
        ("JSON without a version", br#"{"id":"x"}"#.to_vec()),
        ("a v4 record missing fields", br#"{"v":4}"#.to_vec()),
        ("a record naming another hash", tampered_hash.into_bytes()),
        ("a record with an invalid email", bad_email.into_bytes()),
        ("an empty value", Vec::new()),
    ] {
        raw_set(&mut conn, &key, &value).await;
        match cache.get(&hash).await {
            Err(StoreError::Corrupt(msg)) => println!("{what}: {msg}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // A fill replaces the garbage.
    assert!(cache.put(&entry, now, TTL).await.expect("put"));
    assert_eq!(cache.get(&hash).await.expect("get"), Some(entry));
    cache.delete(&hash).await.expect("delete");
}

#[tokio::test]
async fn another_format_version_is_a_miss() {
    let Some((cache, mut conn)) = setup().await else {
        return;
    };
    let now = now_millis();
    let entry = entry(now);
    let hash = entry.session.secret_hash;
    let key = cache.record_key(&hash);
    assert!(cache.put(&entry, now, TTL).await.expect("put"));
    let good = raw_get(&mut conn, &key).await.expect("record");
    for version in ["0", "1", "2", "3", "5", "\"4\""] {
        let other = good.replacen(r#""v":4"#, &format!(r#""v":{version}"#), 1);
        raw_set(&mut conn, &key, other.as_bytes()).await;
        match cache.get(&hash).await {
            Err(StoreError::Corrupt(msg)) => println!("v={version}: {msg}"),
            other => panic!("v={version}: {other:?}"),
        }
    }
    cache.delete(&hash).await.expect("delete");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error() {
    // Nothing listens on port 1; callers answer from the store on this error.
    let cache = RedisSessionCache::new("redis://127.0.0.1:1/", [7; 32]).expect("a valid URL");
    let now = now_millis();
    let entry = entry(now);
    let got = tokio::time::timeout(PATIENCE, cache.get(&entry.session.secret_hash))
        .await
        .expect("gives up on its own");
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    assert!(cache.put(&entry, now, TTL).await.is_err());
    assert!(cache.revoke(entry.session.id).await.is_err());
    assert!(cache.ping().await.is_err());
}
