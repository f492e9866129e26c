//! The Redis revocation feed and the shared throttle, against the Redis on 127.0.0.1:6379 and
//! against a private redis-server that the fault test starts and kills.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    next_event, now_millis, redis_available, summary, wait_resync, wait_revoked, wait_until,
    PATIENCE, RECONNECT_PATIENCE,
};
use tessera_core::throttle::Rate;
use tessera_core::SessionId;
use tessera_store::feed::RedisFeed;
use tessera_store::{FeedEvent, RedisThrottle, RevocationFeed};
use uuid::Uuid;

const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";

/// A channel or name no other test (or deployment) on the shared Redis uses.
fn unique(what: &str) -> String {
    format!("tessera:test:{what}:{}", Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_feed_reaches_other_instances() {
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    let channel = unique("feed");
    let a = RedisFeed::connect_channel(SHARED_REDIS, &channel).expect("feed a");
    let b = RedisFeed::connect_channel(SHARED_REDIS, &channel).expect("feed b");
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    wait_until("both feeds subscribe", PATIENCE, || {
        a.is_connected() && b.is_connected()
    })
    .await;
    assert_eq!(a.transport(), "redis");

    let mut latencies = Vec::new();
    for _ in 0..200 {
        let (session, at) = (SessionId::random(), now_millis());
        let start = Instant::now();
        a.publish(session, at).await.expect("publish");
        assert_eq!(wait_revoked(&mut on_b, session).await, at);
        latencies.push(start.elapsed());
        assert_eq!(wait_revoked(&mut on_a, session).await, at);
    }
    println!("redis pub/sub publish→receive: {}", summary(latencies));

    // Someone else's message on the channel is dropped without costing the subscription.
    let client = redis::Client::open(SHARED_REDIS).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(b"\xff\xfe garbage".as_slice())
        .query_async(&mut conn)
        .await
        .expect("publish garbage");
    let session = SessionId::random();
    a.publish(session, now_millis()).await.expect("publish");
    match next_event(&mut on_b, PATIENCE).await {
        FeedEvent::Revoked { session: got, .. } => assert_eq!(got, session),
        FeedEvent::Resync => panic!("garbage must not cost a reconnect"),
    }

    // Dropping a feed stops its subscriber.
    drop((a, b));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .expect("PUBSUB NUMSUB");
        if subscribers == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{subscribers} subscribers outlive their feeds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A redis-server of this test's own on a free port, killed (by its handle) on drop.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// `None` when redis-server is not installed (which fails the test under CI).
    async fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        if let Err(err) = server.spawn().await {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot run redis-server ({err}) and CI is set"
            );
            eprintln!("skipping: cannot run redis-server ({err})");
            return None;
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let url = self.url();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ping = async {
                let client = redis::Client::open(url.as_str())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), ping).await {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_feed_survives_redis_going_away() {
    let Some(mut server) = PrivateRedis::start().await else {
        return;
    };
    let url = server.url();
    let a = RedisFeed::connect(&url).expect("feed a");
    let b = RedisFeed::connect(&url).expect("feed b");
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    wait_until("both feeds subscribe", PATIENCE, || {
        a.is_connected() && b.is_connected()
    })
    .await;
    let session = SessionId::random();
    a.publish(session, now_millis()).await.expect("publish");
    wait_revoked(&mut on_b, session).await;

    server.kill();
    wait_until("the feeds notice", PATIENCE, || {
        !a.is_connected() && !b.is_connected()
    })
    .await;
    // Down: publishing fails (promptly, not by hanging), but this instance still hears it.
    let session = SessionId::random();
    let published = tokio::time::timeout(PATIENCE, a.publish(session, now_millis()))
        .await
        .expect("publish must give up on its own");
    assert!(published.is_err(), "publish to a dead Redis: {published:?}");
    wait_revoked(&mut on_a, session).await;

    server.spawn().await.expect("restart redis-server");
    wait_resync(&mut on_a, RECONNECT_PATIENCE).await;
    wait_resync(&mut on_b, RECONNECT_PATIENCE).await;
    assert!(a.is_connected() && b.is_connected());
    // The publisher reconnects on its own too (after a short pause since its last failure).
    let session = SessionId::random();
    let deadline = Instant::now() + PATIENCE;
    while let Err(err) = a.publish(session, now_millis()).await {
        assert!(
            Instant::now() < deadline,
            "publish never recovered: {err:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_revoked(&mut on_b, session).await;
}

fn rate(limit: u32, period: time::Duration) -> Rate {
    Rate { limit, period }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_throttle_counts_failures_across_instances() {
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    let name = unique("throttle");
    let period = time::Duration::minutes(1);
    let one = RedisThrottle::new(SHARED_REDIS, &name, rate(3, period)).expect("throttle");
    let two = RedisThrottle::new(SHARED_REDIS, &name, rate(3, period)).expect("throttle");

    for n in 1..=3 {
        assert_eq!(check(&one, "alice").await, Ok(()), "before failure {n}");
        assert_eq!(one.record_failure("alice").await.expect("record"), n);
    }
    let retry_after = check(&one, "alice")
        .await
        .expect_err("fourth try is throttled");
    assert!(
        retry_after > time::Duration::ZERO && retry_after <= period,
        "{retry_after}"
    );
    // The other instance sees the same counter; other keys are untouched.
    assert!(check(&two, "alice").await.is_err());
    assert_eq!(check(&two, "bob").await, Ok(()));

    two.reset("alice").await.expect("reset");
    assert_eq!(check(&one, "alice").await, Ok(()));

    // Failures recorded through either instance add up.
    one.record_failure("carol").await.expect("record");
    two.record_failure("carol").await.expect("record");
    assert_eq!(check(&one, "carol").await, Ok(()));
    assert_eq!(two.record_failure("carol").await.expect("record"), 3);
    assert!(check(&one, "carol").await.is_err());

    for key in ["alice", "bob", "carol"] {
        one.reset(key).await.expect("clean up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_throttle_window_ends_after_its_period() {
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    let throttle = RedisThrottle::new(
        SHARED_REDIS,
        &unique("window"),
        rate(1, time::Duration::milliseconds(300)),
    )
    .expect("throttle");
    throttle.record_failure("dave").await.expect("record");
    assert!(throttle.check("dave").await.expect("check").is_err());
    let deadline = Instant::now() + PATIENCE;
    while throttle.check("dave").await.expect("check").is_err() {
        assert!(Instant::now() < deadline, "the window never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_throttle_reports_an_unreachable_redis_as_an_error() {
    // Nothing listens on port 1; callers fall back to their in-process throttle on this error.
    let throttle = RedisThrottle::new(
        "redis://127.0.0.1:1/",
        "down",
        rate(3, time::Duration::MINUTE),
    )
    .expect("a valid URL is accepted without connecting");
    let checked = tokio::time::timeout(PATIENCE, throttle.check("erin"))
        .await
        .expect("gives up on its own");
    assert!(checked.is_err());
    assert!(throttle.record_failure("erin").await.is_err());
}

async fn check(throttle: &RedisThrottle, key: &str) -> Result<(), time::Duration> {
    throttle.check(key).await.expect("check")
}
