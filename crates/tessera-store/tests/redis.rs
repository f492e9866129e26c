//! The Redis revocation feed and the shared throttle, against the Redis on 127.0.0.1:6379 and
//! against private redis-servers that the fault tests start, pause and kill (only their own
//! children), some behind a proxy that the test can make hang or refuse.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::{Mode, Proxy};
use common::{
    assert_quiet, next_event, now_millis, redis_available, summary, wait_resync, wait_revoked,
    wait_until, PATIENCE, RECONNECT_PATIENCE,
};
use futures_util::StreamExt;
use tessera_core::throttle::{Rate, ThrottleKey};
use tessera_core::{Email, SessionId};
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
        other => panic!("garbage must not cost a reconnect: {other:?}"),
    }
    // A change of a user's roles reaches the other instance too.
    let user = tessera_core::UserId::random();
    a.publish_user_changed(user)
        .await
        .expect("publish user change");
    match next_event(&mut on_b, PATIENCE).await {
        FeedEvent::UserChanged { user: got } => assert_eq!(got, user),
        other => panic!("expected the user change, got {other:?}"),
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

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
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

fn key(name: &str) -> ThrottleKey {
    ThrottleKey::account(&Email::parse(&format!("{name}@example.test")).expect("address"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_throttle_counts_attempts_across_instances() {
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    let name = unique("throttle");
    let period = time::Duration::minutes(1);
    let one = RedisThrottle::new(SHARED_REDIS, &name, rate(3, period)).expect("throttle");
    let two = RedisThrottle::new(SHARED_REDIS, &name, rate(3, period)).expect("throttle");

    for n in 1..=3 {
        assert_eq!(reserve(&one, "alice").await, Ok(()), "attempt {n}");
    }
    let retry_after = reserve(&one, "alice")
        .await
        .expect_err("fourth try is throttled");
    assert!(
        retry_after > time::Duration::ZERO && retry_after <= period,
        "{retry_after}"
    );
    // The other instance sees the same counter; other keys are untouched.
    assert!(reserve(&two, "alice").await.is_err());
    assert_eq!(reserve(&two, "bob").await, Ok(()));

    two.reset(&key("alice")).await.expect("reset");
    assert_eq!(reserve(&one, "alice").await, Ok(()));

    // Attempts through either instance add up; a refund gives exactly one back.
    assert_eq!(reserve(&one, "carol").await, Ok(()));
    assert_eq!(reserve(&two, "carol").await, Ok(()));
    assert_eq!(reserve(&one, "carol").await, Ok(()));
    assert!(reserve(&two, "carol").await.is_err());
    one.refund(&key("carol")).await.expect("refund");
    assert_eq!(reserve(&two, "carol").await, Ok(()));
    assert!(reserve(&one, "carol").await.is_err());

    for name in ["alice", "bob", "carol"] {
        one.reset(&key(name)).await.expect("clean up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_throttle_admits_at_most_the_limit_of_concurrent_attempts() {
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    // Two instances, 60 attempts at once on one key: the check and the count are one step,
    // so exactly the limit get through — the bug was that all 60 passed a check made before
    // any of them was counted.
    let name = unique("race");
    let one =
        RedisThrottle::new(SHARED_REDIS, &name, rate(5, time::Duration::MINUTE)).expect("throttle");
    let two =
        RedisThrottle::new(SHARED_REDIS, &name, rate(5, time::Duration::MINUTE)).expect("throttle");
    let victim = key("victim");
    let attempts = (0..60).map(|n| {
        let throttle = if n % 2 == 0 { &one } else { &two };
        throttle.reserve(&victim)
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let admitted = outcomes
        .into_iter()
        .flat_map(|outcome| outcome.expect("redis answers"))
        .count();
    assert_eq!(admitted, 5);
    one.reset(&victim).await.expect("clean up");
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
    assert_eq!(reserve(&throttle, "dave").await, Ok(()));
    assert!(reserve(&throttle, "dave").await.is_err());
    let deadline = Instant::now() + PATIENCE;
    while reserve(&throttle, "dave").await.is_err() {
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
    let checked = tokio::time::timeout(PATIENCE, throttle.reserve(&key("erin")))
        .await
        .expect("gives up on its own");
    assert!(checked.is_err());
    assert!(throttle.refund(&key("erin")).await.is_err());
}

async fn reserve(throttle: &RedisThrottle, name: &str) -> Result<(), time::Duration> {
    throttle.reserve(&key(name)).await.expect("reserve")
}

/// Generous: the point is that a call does not queue behind anyone's connect, not a benchmark.
const FAST: Duration = Duration::from_millis(500);

/// `call`'s outcome; panics unless it came within [`FAST`].
async fn fast<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(FAST, call)
        .await
        .unwrap_or_else(|_| panic!("{what} waited longer than {FAST:?}"))
}

/// `call`'s outcome and how long it took; panics unless it gave up on its own.
async fn timed<T>(what: &str, call: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let outcome = tokio::time::timeout(PATIENCE, call)
        .await
        .unwrap_or_else(|_| panic!("{what} never gave up"));
    (outcome, start.elapsed())
}

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

fn via(proxy: &Proxy) -> String {
    format!("redis://127.0.0.1:{}/", proxy.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_costs_one_bounded_wait_then_nothing() {
    // The kernel completes connections to it; nobody ever reads or writes.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://{}/", hole.local_addr().expect("address"));
    let minute = time::Duration::MINUTE;

    // Cold callers share the first connect attempt, and wait at most about a second for it.
    let throttle = RedisThrottle::new(&url, "hole", rate(3, minute)).expect("throttle");
    let frank = key("frank");
    let (first, took) = timed(
        "the first calls",
        futures_util::future::join_all((0..20).map(|_| throttle.reserve(&frank))),
    )
    .await;
    assert!(first.iter().all(Result::is_err));
    assert!(
        took < Duration::from_millis(2500),
        "the first calls took {took:?}"
    );
    println!("black hole: the first 20 concurrent calls failed after {took:?}");

    // From then on nobody waits, one at a time or all at once, while the link keeps trying.
    for n in 2..=10 {
        let checked = fast(&format!("call {n}"), throttle.reserve(&frank)).await;
        assert!(checked.is_err());
    }
    let all = fast(
        "50 concurrent calls",
        futures_util::future::join_all((0..50).map(|_| throttle.refund(&frank))),
    )
    .await;
    assert!(all.iter().all(Result::is_err));
    // Past a few reconnect attempts (each up to 3 s, in the background): still nothing.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for n in 0..5 {
        let checked = fast(&format!("late call {n}"), throttle.reserve(&frank)).await;
        assert!(checked.is_err());
    }
    drop(hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_hangs_mid_command_fails_fast_then_recovers_by_itself() {
    let Some(server) = PrivateRedis::start().await else {
        return;
    };
    let throttle = RedisThrottle::new(&server.url(), "pause", rate(3, time::Duration::MINUTE))
        .expect("throttle");
    let gina = key("gina");
    assert_eq!(throttle.reserve(&gina).await.expect("reserve"), Ok(()));

    // Redis holds every command, from every client, for 3 s.
    let pause = Duration::from_secs(3);
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("ALL")
        .query_async(&mut admin(&server.url()).await)
        .await
        .expect("CLIENT PAUSE");
    let paused_at = Instant::now();

    // The call that finds the connection hung waits for its reply timeout; the next ones fail
    // without waiting on anything.
    let (first, took) = timed("a call to a paused Redis", throttle.reserve(&gina)).await;
    assert!(first.is_err(), "{first:?}");
    println!("CLIENT PAUSE: the first call failed after {took:?}");
    for n in 2..=6 {
        let checked = fast(&format!("call {n}"), throttle.reserve(&gina)).await;
        assert!(checked.is_err(), "call {n}: {checked:?}");
    }

    // Nothing but fast failures until the background reconnect gets through, after the pause.
    let recovered = loop {
        let reserved = fast("a call while recovering", throttle.reserve(&gina)).await;
        if let Ok(verdict) = reserved {
            break verdict;
        }
        assert!(
            paused_at.elapsed() < pause + RECONNECT_PATIENCE,
            "the link never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "CLIENT PAUSE: calls succeed again {:?} after the pause ended",
        paused_at.elapsed().saturating_sub(pause)
    );
    assert!(paused_at.elapsed() >= pause, "a paused Redis answered");
    // The counter survived the outage: with the first attempt (and the one that timed out,
    // if Redis ran it when the pause ended) the window still holds three at most.
    let mut admitted = usize::from(recovered.is_ok());
    while throttle.reserve(&gina).await.expect("reserve").is_ok() {
        admitted += 1;
    }
    assert!((1..=2).contains(&admitted), "{admitted} more admitted");
}

/// Waits for the revocations of `wanted` on `rx`; panics on a Resync (the subscription was not
/// supposed to break) or when they do not all come.
async fn receive_all_without_resync(
    rx: &mut tokio::sync::broadcast::Receiver<FeedEvent>,
    wanted: &[SessionId],
) {
    let mut missing: HashSet<SessionId> = wanted.iter().copied().collect();
    let deadline = Instant::now() + RECONNECT_PATIENCE;
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_event(rx, left).await {
            FeedEvent::Revoked { session, .. } => {
                missing.remove(&session);
            }
            other => panic!("unexpected {other:?}; still missing {missing:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_published_while_redis_hangs_reach_the_others_when_it_answers() {
    let Some(server) = PrivateRedis::start().await else {
        return;
    };
    // A reaches Redis through a proxy that can hang; B directly, and stays subscribed.
    let proxy = Proxy::start(server.addr()).await;
    let a = RedisFeed::connect(&via(&proxy)).expect("feed a");
    let b = RedisFeed::connect(&server.url()).expect("feed b");
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    wait_until("both feeds subscribe", PATIENCE, || {
        a.is_connected() && b.is_connected()
    })
    .await;
    let session = SessionId::random();
    a.publish(session, now_millis()).await.expect("publish");
    wait_revoked(&mut on_b, session).await;
    while on_b.try_recv().is_ok() {}

    proxy.set(Mode::Hang);
    let sessions: Vec<SessionId> = (0..5).map(|_| SessionId::random()).collect();
    let (first, took) = timed(
        "a publish to a hung Redis",
        a.publish(sessions[0], now_millis()),
    )
    .await;
    let err = first.expect_err("published to a hung Redis");
    println!("hung Redis: the first publish failed after {took:?}: {err:?}");
    for (n, session) in sessions.iter().enumerate().skip(1) {
        let published = fast(&format!("publish {n}"), a.publish(*session, now_millis())).await;
        assert!(published.is_err(), "publish {n}: {published:?}");
    }
    assert_eq!((a.queued(), a.dropped()), (5, 0));
    // This instance heard all of them at once; B nothing yet.
    for session in &sessions {
        wait_revoked(&mut on_a, *session).await;
    }
    assert_quiet(&mut on_b, Duration::from_millis(200)).await;

    let answered = Instant::now();
    proxy.set(Mode::Forward);
    receive_all_without_resync(&mut on_b, &sessions).await;
    println!(
        "hung Redis answers again: B has the queued revocations {:?} later",
        answered.elapsed()
    );
    wait_until("A's queue is empty", PATIENCE, || a.queued() == 0).await;
    assert_eq!(a.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_published_while_redis_is_down_is_sent_after_it_restarts() {
    let Some(mut server) = PrivateRedis::start().await else {
        return;
    };
    // Pub/sub keeps nothing for a subscriber that is not there yet, so B must be subscribed
    // again before A gets to send; otherwise B would only have it from its Resync (fine in
    // production, but this test wants the message). A goes through a proxy that keeps it away
    // from the restarted Redis until then.
    let proxy = Proxy::start(server.addr()).await;
    let a = RedisFeed::connect(&via(&proxy)).expect("feed a");
    let b = RedisFeed::connect(&server.url()).expect("feed b");
    let mut on_b = b.subscribe();
    wait_until("both feeds subscribe", PATIENCE, || {
        a.is_connected() && b.is_connected()
    })
    .await;
    let session = SessionId::random();
    a.publish(session, now_millis()).await.expect("publish");
    wait_revoked(&mut on_b, session).await;
    while on_b.try_recv().is_ok() {}

    server.kill();
    proxy.set(Mode::Refuse);
    wait_until("the feeds notice", PATIENCE, || {
        !a.is_connected() && !b.is_connected()
    })
    .await;
    let session = SessionId::random();
    let (published, _) = timed(
        "a publish to a dead Redis",
        a.publish(session, now_millis()),
    )
    .await;
    assert!(published.is_err(), "{published:?}");
    assert_eq!(a.queued(), 1);

    server.spawn().await.expect("restart redis-server");
    wait_resync(&mut on_b, RECONNECT_PATIENCE).await;
    proxy.set(Mode::Forward);
    receive_all_without_resync(&mut on_b, &[session]).await;
    wait_until("A's queue is empty", PATIENCE, || a.queued() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_the_oldest_revocations_and_counts_them() {
    let Some(server) = PrivateRedis::start().await else {
        return;
    };
    let proxy = Proxy::start(server.addr()).await;
    proxy.set(Mode::Refuse);
    let a = RedisFeed::connect(&via(&proxy)).expect("feed a");
    // A plain subscriber, which buffers whatever arrives, however much.
    let mut watcher = redis::Client::open(server.url())
        .expect("client")
        .get_async_pubsub()
        .await
        .expect("pubsub");
    watcher
        .subscribe(RedisFeed::DEFAULT_CHANNEL)
        .await
        .expect("subscribe");

    let extra = 5;
    let sessions: Vec<SessionId> = (0..RedisFeed::MAX_QUEUED + extra)
        .map(|_| SessionId::random())
        .collect();
    let start = Instant::now();
    for session in &sessions {
        assert!(a.publish(*session, now_millis()).await.is_err());
    }
    println!(
        "{} publishes to an unreachable Redis took {:?}",
        sessions.len(),
        start.elapsed()
    );
    assert_eq!(a.queued(), RedisFeed::MAX_QUEUED);
    assert_eq!(a.dropped(), extra as u64);

    proxy.set(Mode::Forward);
    let mut messages = watcher.on_message();
    let mut received = HashSet::new();
    let deadline = Instant::now() + RECONNECT_PATIENCE;
    while received.len() < RedisFeed::MAX_QUEUED {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, messages.next())
            .await
            .unwrap_or_else(|_| panic!("only {} queued revocations arrived", received.len()))
            .expect("subscription open");
        let payload: String = message.get_payload().expect("a text payload");
        let (id, _) = payload.split_once(':').expect("<session>:<millis>");
        received.insert(SessionId(Uuid::parse_str(id).expect("a session id")));
    }
    let expected: HashSet<SessionId> = sessions[extra..].iter().copied().collect();
    assert_eq!(
        received, expected,
        "the newest were sent, the oldest dropped"
    );
    wait_until("A's queue is empty", PATIENCE, || a.queued() == 0).await;
    // Nothing more comes (no duplicates of what was dropped, nor anything else).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), messages.next())
            .await
            .is_err(),
        "more than the queue held was published"
    );
}
