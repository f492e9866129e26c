//! The session check on Postgres, without and with the shared Redis session cache. Runs only
//! when `TESSERA_BENCH_POSTGRES_URL` is set; creates a database `tessera_bench_<uuid>` there
//! and drops it afterwards (also after a panic).
//!
//! - `session_check_postgres`: no `cache.url`. `cache_hit` (in-process), `cache_miss` (the
//!   store: session by hash + user by id).
//! - `session_check_postgres_redis`: `cache.url` set. `local_hit` (in-process), `shared_hit`
//!   (in-process cache evicted, Redis answers), `store_miss` (both evicted: Redis miss, the
//!   store, then the Redis fill). The evictions before each check are not timed.
//! - baselines from the same run: one `ping` round trip to the Postgres pool, one Redis `PING`.

use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tessera_core::{SecretToken, SessionId};
use tessera_engine::sessions;
use tessera_server::app::build_state;
use tessera_server::config::Config;
use tessera_server::state::AppState;

const POSTGRES_URL_ENV: &str = "TESSERA_BENCH_POSTGRES_URL";
const REDIS_URL_ENV: &str = "TESSERA_BENCH_REDIS_URL";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// A throw-away database, dropped `WITH (FORCE)` on drop.
struct BenchDb {
    admin: PgConnectOptions,
    name: String,
    url: String,
}

impl BenchDb {
    fn create(rt: &tokio::runtime::Runtime, admin_url: &str) -> Self {
        let admin = PgConnectOptions::from_str(admin_url).expect("a postgres:// URL");
        let name = format!("tessera_bench_{}", uuid::Uuid::new_v4().simple());
        rt.block_on(async {
            let mut conn = admin.connect().await.expect("connect to Postgres");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create the bench database");
            let _ = conn.close().await;
        });
        let url = admin.clone().database(&name).to_url_lossy().to_string();
        Self { admin, name, url }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // A runtime of its own, on a thread of its own: this may run while another is active.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                let mut conn = admin.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop bench database {}", self.name);
        }
    }
}

/// One signed-in session on Postgres, with or without the shared cache. Fields drop in order:
/// the state (and its pool) before the database.
struct Fixture {
    state: AppState,
    secret: SecretToken,
    session_id: SessionId,
    redis: Option<redis::aio::MultiplexedConnection>,
    rt: tokio::runtime::Runtime,
    _db: BenchDb,
}

impl Fixture {
    fn start(admin_url: &str, redis_url: Option<&str>) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = BenchDb::create(&rt, admin_url);
        let mut config = Config::default();
        config.cache.url = redis_url.map(str::to_owned);
        config.store.url.clone_from(&db.url);
        let (state, secret, session_id, redis) = rt.block_on(async {
            let store = tessera_store::open(&db.url, true).await.unwrap();
            let state = build_state(config, store, super::options()).await.unwrap();
            let (secret, session_id) = super::sign_in(&state).await;
            let redis = match redis_url {
                Some(url) => Some(
                    redis::Client::open(url)
                        .unwrap()
                        .get_multiplexed_async_connection()
                        .await
                        .expect("Redis for the bench"),
                ),
                None => None,
            };
            (state, secret, session_id, redis)
        });
        Self {
            state,
            secret,
            session_id,
            redis,
            rt,
            _db: db,
        }
    }

    fn check(&self) {
        self.rt
            .block_on(sessions::authenticate(&self.state, &self.secret))
            .unwrap()
            .expect("the session is live");
    }

    /// Evicts the in-process copy, and the Redis one when `shared` is set.
    fn evict(&self, shared: bool) {
        self.state.sessions.evict_local(self.session_id);
        if shared {
            let cache = self.state.sessions.shared().expect("cache.url set");
            self.rt.block_on(cache.forget(&self.secret.hash()));
        }
    }

    /// `n` checks, each after [`evict`](Self::evict), which is not timed.
    fn timed(&self, n: u64, shared: bool) -> Duration {
        (0..n)
            .map(|_| {
                self.evict(shared);
                let started = Instant::now();
                self.check();
                started.elapsed()
            })
            .sum()
    }

    fn shared_hits(&self) -> u64 {
        self.state.sessions.shared().map_or(0, |s| s.stats().hits)
    }
}

fn urls() -> Option<(String, String)> {
    let postgres = std::env::var(POSTGRES_URL_ENV).ok()?;
    let redis = std::env::var(REDIS_URL_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    Some((postgres, redis))
}

pub fn bench(c: &mut Criterion) {
    let Some((postgres, redis)) = urls() else {
        eprintln!("{POSTGRES_URL_ENV} is not set: skipping the Postgres session-check benches");
        return;
    };

    let f = Fixture::start(&postgres, None);
    let mut group = c.benchmark_group("session_check_postgres");
    group.bench_function("cache_hit", |b| b.iter(|| f.check()));
    group.bench_function("cache_miss", |b| b.iter_custom(|n| f.timed(n, false)));
    group.bench_function("baseline_store_ping", |b| {
        b.iter(|| f.rt.block_on(f.state.store.ping()).unwrap());
    });
    group.finish();
    drop(f);

    let f = Fixture::start(&postgres, Some(&redis));
    f.check();
    let mut group = c.benchmark_group("session_check_postgres_redis");
    group.bench_function("local_hit", |b| b.iter(|| f.check()));
    group.bench_function("shared_hit", |b| b.iter_custom(|n| f.timed(n, false)));
    group.bench_function("store_miss", |b| b.iter_custom(|n| f.timed(n, true)));
    group.bench_function("baseline_store_ping", |b| {
        b.iter(|| f.rt.block_on(f.state.store.ping()).unwrap());
    });
    let mut conn = f.redis.clone().expect("a Redis connection");
    group.bench_function("baseline_redis_ping", |b| {
        b.iter(|| {
            f.rt.block_on(redis::cmd("PING").query_async::<String>(&mut conn))
                .unwrap()
        });
    });
    group.finish();
}

/// p50/p99 of each path that leaves the process, over 5,000 checks.
pub fn percentiles() {
    let Some((postgres, redis)) = urls() else {
        return;
    };
    let timed = |f: &Fixture, shared: bool| f.timed(1, shared);
    let f = Fixture::start(&postgres, None);
    super::percentiles("session_check_postgres/cache_miss", 5_000, || {
        timed(&f, false)
    });
    drop(f);
    let f = Fixture::start(&postgres, Some(&redis));
    f.check();
    let hits = f.shared_hits();
    super::percentiles("session_check_postgres_redis/shared_hit", 5_000, || {
        timed(&f, false)
    });
    assert_eq!(
        f.shared_hits() - hits,
        5_000,
        "every check was a shared hit"
    );
    super::percentiles("session_check_postgres_redis/store_miss", 5_000, || {
        timed(&f, true)
    });
}
