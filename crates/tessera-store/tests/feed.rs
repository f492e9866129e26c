//! The revocation feed on every transport but Redis (see `redis.rs`), against real stores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{Mode, Proxy};
use common::{
    assert_quiet, live_session, next_event, now_millis, summary, wait_resync, wait_revoked,
    wait_until, with_postgres, PATIENCE, RECONNECT_PATIENCE,
};
use tessera_core::store::{SessionStore, Store};
use tessera_core::SessionId;
use tessera_store::feed::{LocalFeed, PollingFeed, PostgresFeed};
use tessera_store::{
    open_feed, FeedEvent, MemoryStore, PostgresStore, RevocationFeed, SqliteStore,
};
use uuid::Uuid;

#[tokio::test]
async fn local_feed_delivers_to_every_subscriber() {
    let feed = LocalFeed::new();
    let mut first = feed.subscribe();
    let mut second = feed.subscribe();
    let (session, at) = (SessionId::random(), now_millis());
    feed.publish(session, at).await.expect("publish");
    let expected = FeedEvent::Revoked { session, at };
    assert_eq!(next_event(&mut first, PATIENCE).await, expected);
    assert_eq!(next_event(&mut second, PATIENCE).await, expected);
    assert!(feed.is_connected());
    assert_eq!(feed.transport(), "local");
}

/// A SQLite file in the temp dir, removed (with its WAL files) on drop.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> Self {
        let name = format!("tessera-feed-test-{}.db", Uuid::new_v4().simple());
        Self(std::env::temp_dir().join(name))
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.0.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

#[tokio::test]
async fn polling_feed_sees_revocations_written_by_another_process() {
    let db = TempDb::new();
    let server = SqliteStore::connect(&db.url()).await.expect("open");
    server.migrate().await.expect("migrate");
    // A second pool on the same file stands in for the CLI running in another process.
    let cli: Arc<dyn Store> = Arc::new(SqliteStore::connect(&db.url()).await.expect("open"));
    let server: Arc<dyn Store> = Arc::new(server);

    let feed = PollingFeed::new(Arc::clone(&server), Duration::from_millis(100));
    let mut rx = feed.subscribe();
    assert_eq!(feed.transport(), "poll");
    wait_resync(&mut rx, PATIENCE).await;
    assert!(feed.is_connected());

    let session = live_session(&cli).await;
    let at = now_millis();
    assert!(cli.revoke_session(session, at).await.expect("revoke"));
    assert_eq!(wait_revoked(&mut rx, session).await, at);
    // Later polls overlap this one; they must not announce it again.
    assert_quiet(&mut rx, Duration::from_millis(500)).await;

    // Publishing tells this process at once, without waiting for a poll.
    let other = SessionId::random();
    feed.publish(other, at).await.expect("publish");
    assert_eq!(wait_revoked(&mut rx, other).await, at);
}

#[tokio::test]
async fn open_feed_picks_the_transport_from_the_urls() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let db = TempDb::new();
    let db_url = db.url();
    let cases = [
        ("memory://", None, "local"),
        ("sqlite::memory:", None, "local"),
        (db_url.as_str(), None, "poll"),
        ("postgres://nobody@127.0.0.1:1/none", None, "postgres"),
        // Nothing listens on port 1: opening must still succeed, disconnected.
        ("memory://", Some("redis://127.0.0.1:1/"), "redis"),
        (
            "postgres://nobody@127.0.0.1:1/none",
            Some("redis://127.0.0.1:1/"),
            "redis",
        ),
    ];
    for (store_url, cache_url, transport) in cases {
        let feed = open_feed(Arc::clone(&store), store_url, cache_url)
            .await
            .unwrap_or_else(|e| panic!("{store_url} {cache_url:?}: {e:?}"));
        assert_eq!(feed.transport(), transport, "{store_url} {cache_url:?}");
    }
    let down = open_feed(
        Arc::clone(&store),
        "memory://",
        Some("redis://127.0.0.1:1/"),
    )
    .await
    .expect("open");
    assert!(!down.is_connected());
    assert!(open_feed(store, "mysql://x", None).await.is_err());
}

fn feed_on(store: &PostgresStore) -> PostgresFeed {
    PostgresFeed::with_options((*store.pool().connect_options()).clone())
}

#[tokio::test]
async fn postgres_feed_reaches_other_instances() {
    with_postgres(|store| async move {
        // Subscribed before the listeners can have connected (this runtime has one thread and
        // has not yielded yet), so the first connect's Resync must arrive.
        let a = feed_on(&store);
        let b = feed_on(&store);
        let mut on_a = a.subscribe();
        let mut on_b = b.subscribe();
        wait_resync(&mut on_a, PATIENCE).await;
        wait_resync(&mut on_b, PATIENCE).await;
        assert!(a.is_connected() && b.is_connected());
        assert_eq!(b.transport(), "postgres");

        let mut latencies = Vec::new();
        for _ in 0..50 {
            let (session, at) = (SessionId::random(), now_millis());
            let start = Instant::now();
            a.publish(session, at).await.expect("publish");
            assert_eq!(wait_revoked(&mut on_b, session).await, at);
            latencies.push(start.elapsed());
            assert_eq!(wait_revoked(&mut on_a, session).await, at);
        }
        println!(
            "postgres LISTEN/NOTIFY publish→receive: {}",
            summary(latencies)
        );

        // Foreign or corrupt messages on the channel are dropped, not fatal.
        sqlx::query("SELECT pg_notify('tessera_revocations', 'not a revocation')")
            .execute(store.pool())
            .await
            .expect("notify");
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
        assert!(b.is_connected());

        // Dropping a feed stops its listener and closes its connections.
        drop((a, b));
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1",
            )
            .bind(PostgresFeed::APPLICATION_NAME)
            .fetch_one(store.pool())
            .await
            .expect("count feed connections");
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{left} feed connections outlive their feeds"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_reconnects_and_resyncs_after_losing_its_connection() {
    with_postgres(|store| async move {
        let a = feed_on(&store);
        let b = feed_on(&store);
        let mut on_b = b.subscribe();
        wait_until("both feeds listen", PATIENCE, || {
            a.is_connected() && b.is_connected()
        })
        .await;
        while on_b.try_recv().is_ok() {}

        // Kill every listening backend of the feeds: B's (and A's) listener must notice.
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1 \
             AND query ILIKE 'LISTEN%'",
        )
        .bind(PostgresFeed::APPLICATION_NAME)
        .fetch_all(store.pool())
        .await
        .expect("terminate listeners");
        assert_eq!(killed, [true, true], "one listener per feed");
        wait_resync(&mut on_b, PATIENCE).await;

        // A revocation written while B was away is what its Resync reload would find.
        let dyn_store: Arc<dyn Store> = store.clone();
        let missed = live_session(&dyn_store).await;
        store
            .revoke_session(missed, now_millis())
            .await
            .expect("revoke");
        let since = now_millis() - time::Duration::minutes(1);
        let reloaded = store.revoked_since(since).await.expect("reload");
        assert!(reloaded.iter().any(|(id, _)| *id == missed));

        // And the feed carries new publications again (A's publish pool may need a moment to
        // replace a connection it has not used since).
        let session = SessionId::random();
        a.publish(session, now_millis())
            .await
            .expect("publish after reconnect");
        wait_revoked(&mut on_b, session).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_notices_a_listener_connection_that_died_silently() {
    with_postgres(|store| async move {
        // The feed reaches Postgres through a proxy that can stop relaying without closing
        // anything: its listener then waits on a socket that will never say a word, as after a
        // partition or a host that vanished.
        let options = (*store.pool().connect_options()).clone();
        let target = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .expect("resolve the Postgres host")
            .next()
            .expect("an address for the Postgres host");
        let proxy = Proxy::start(target).await;
        let feed = PostgresFeed::with_options(options.host("127.0.0.1").port(proxy.port()));
        let other = feed_on(&store);
        let mut rx = feed.subscribe();
        wait_resync(&mut rx, PATIENCE).await;
        wait_until("the other feed listens", PATIENCE, || other.is_connected()).await;

        proxy.set(Mode::Hang);
        let hung = Instant::now();
        // A ping every 5 s, given up on after 5 more: noticed within about 10 s.
        wait_until("the feed notices", Duration::from_secs(15), || {
            !feed.is_connected()
        })
        .await;
        println!("silent listener noticed after {:?}", hung.elapsed());
        assert!(hung.elapsed() >= Duration::from_secs(4), "noticed too soon");

        // The dead connection stays half-open; new ones work again.
        proxy.set(Mode::Forward);
        wait_resync(&mut rx, RECONNECT_PATIENCE).await;
        let mut on_other = other.subscribe();
        let session = SessionId::random();
        other.publish(session, now_millis()).await.expect("publish");
        wait_revoked(&mut rx, session).await;
        let session = SessionId::random();
        feed.publish(session, now_millis()).await.expect("publish");
        wait_revoked(&mut on_other, session).await;
    })
    .await;
}
