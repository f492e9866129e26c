//! The in-process session check — the work behind every cookie or `tss_` request — on SQLite:
//! a cache hit, and a cache miss that goes to the store. After the criterion groups, a plain
//! loop reports miss-latency percentiles, which criterion does not.
//!
//! With `TESSERA_BENCH_POSTGRES_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/postgres`,
//! a database to create a throw-away one from), the same on Postgres, without and with the
//! shared Redis session cache (`TESSERA_BENCH_REDIS_URL`, default `redis://127.0.0.1:6379/`):
//! see `session_check/postgres.rs`.
//!
//! `cargo bench -p tessera-server --bench session_check`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use tessera_core::password::PasswordHasher;
use tessera_core::{SecretToken, SystemClock};
use tessera_engine::Caller;
use tessera_engine::{accounts, sessions};
use tessera_server::app::{build_state, Options};
use tessera_server::config::Config;
use tessera_server::state::AppState;

#[path = "session_check/postgres.rs"]
mod postgres;

struct Fixture {
    rt: tokio::runtime::Runtime,
    state: AppState,
    secret: SecretToken,
    session_id: tessera_core::SessionId,
    _db: TempDb,
}

struct TempDb(std::path::PathBuf);
impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".key"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db =
        TempDb(std::env::temp_dir().join(format!("tessera-bench-{}.db", uuid::Uuid::new_v4())));
    let url = format!("sqlite://{}", db.0.display());
    let (state, secret, session_id) = rt.block_on(async {
        let store = tessera_store::open(&url, true).await.unwrap();
        // The store URL also names the signing-key file (`<database>.key`) beside it.
        let mut config = Config::default();
        config.store.url.clone_from(&url);
        let state = build_state(config, store, options()).await.unwrap();
        let (secret, session_id) = sign_in(&state).await;
        (state, secret, session_id)
    });
    Fixture {
        rt,
        state,
        secret,
        session_id,
        _db: db,
    }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("session_check_sqlite");
    group.bench_function("cache_hit", |b| {
        b.iter(|| {
            f.rt.block_on(sessions::authenticate(&f.state, &f.secret))
                .unwrap()
                .unwrap()
        });
    });
    group.bench_function("cache_miss", |b| {
        b.iter(|| {
            f.state.sessions.evict_local(f.session_id);
            f.rt.block_on(sessions::authenticate(&f.state, &f.secret))
                .unwrap()
                .unwrap()
        });
    });
    // Baselines from the same run: the least a hit can cost (hashing the presented secret) and
    // the least a miss can cost (one round trip to the same SQLite pool).
    group.bench_function("baseline_sha256_of_secret", |b| {
        b.iter(|| f.secret.hash());
    });
    group.bench_function("baseline_store_ping", |b| {
        b.iter(|| f.rt.block_on(f.state.store.ping()).unwrap());
    });
    group.finish();
}

/// p50/p99 of the store path, over 20,000 misses.
fn miss_percentiles() {
    let f = fixture();
    percentiles("session_check_sqlite/cache_miss", 20_000, || {
        f.state.sessions.evict_local(f.session_id);
        let started = Instant::now();
        f.rt.block_on(sessions::authenticate(&f.state, &f.secret))
            .unwrap()
            .unwrap();
        started.elapsed()
    });
}

/// Runs `sample` `n` times and prints p50/p99/max of what it measured.
fn percentiles(what: &str, n: usize, mut sample: impl FnMut() -> Duration) {
    let mut samples: Vec<Duration> = (0..n).map(|_| sample()).collect();
    samples.sort();
    let pct = |per_mille: usize| samples[(samples.len() - 1) * per_mille / 1000];
    let show = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    println!(
        "{what} percentiles over {} checks: p50 {}  p99 {}  max {}",
        samples.len(),
        show(pct(500)),
        show(pct(990)),
        show(samples[samples.len() - 1])
    );
}

/// A user with one `tss_` session, on `state`.
async fn sign_in(state: &AppState) -> (SecretToken, tessera_core::SessionId) {
    let caller = Caller {
        ip: "127.0.0.1".parse().unwrap(),
        user_agent: Some("bench".into()),
    };
    accounts::create_user(state, "bench@example.com", "correct horse battery", None)
        .await
        .unwrap();
    let login = sessions::login(
        state,
        "bench@example.com",
        "correct horse battery",
        tessera_core::SessionKind::Header,
        None,
        &caller,
    )
    .await
    .unwrap();
    (login.secret, login.session.id)
}

fn options() -> Options {
    let hasher = PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap());
    Options {
        clock: Arc::new(SystemClock),
        hasher,
    }
}

criterion_group!(benches, bench, postgres::bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    miss_percentiles();
    postgres::percentiles();
}
