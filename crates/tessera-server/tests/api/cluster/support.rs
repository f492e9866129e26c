//! Fixtures for the multi-instance tests: a fresh Postgres database per test, the shared Redis,
//! a private redis-server to kill, a pair of instances on one store, and polling helpers.

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tessera_core::TestClock;
use uuid::Uuid;

use crate::helpers::{spawn_instance, Auth, TestApp};

/// How long something that should take milliseconds may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// For waits that include a reconnect after a feed's backoff has grown to its 5 s cap.
pub const RECONNECT_PATIENCE: Duration = Duration::from_secs(20);
const POLL_EVERY: Duration = Duration::from_millis(20);

pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";
const POSTGRES_URL_ENV: &str = "TESSERA_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A service the test needs is missing: a failure under CI, else a skip (returns `None`).
fn missing<T>(what: &str, reason: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is unreachable ({reason}) and CI is set"
    );
    eprintln!("skipping: {what} is unreachable ({reason})");
    None
}

/// A brand-new database `tessera_test_<uuid>`, dropped `WITH (FORCE)` when this is dropped —
/// also when the test panics, since the drop runs on a thread with its own runtime.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    admin_url: String,
    url: String,
}

impl PgDatabase {
    /// `None` (the test is skipped) when Postgres is unreachable and CI is not set.
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = match admin_connection(&admin_url).await {
            Ok(conn) => conn,
            Err(reason) => return missing(&format!("Postgres at {admin_url}"), &reason),
        };
        let name = format!("tessera_test_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    /// The `store.url` of every instance of the test.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on the maintenance database (for ALTER DATABASE and friends).
    pub async fn admin(&self, sql: &str) {
        let mut admin = admin_connection(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to the maintenance database: {e}"));
        sqlx::query(sql)
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = admin.close().await;
    }

    /// Runs `sql` (several statements allowed) on the test database itself.
    pub async fn execute(&self, sql: &str) {
        let mut conn = admin_connection(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// A single value from the test database itself.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = admin_connection(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        let (value,): (i64,) = sqlx::query_as(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
        value
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (name, admin_url) = (self.name.clone(), self.admin_url.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                match admin_connection(&admin_url).await {
                    Ok(mut admin) => {
                        // FORCE: the instances' pools (and a panicking test's) still hold
                        // connections.
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        if let Err(e) = sqlx::query(&sql).execute(&mut admin).await {
                            eprintln!("could not drop test database {name}: {e}");
                        }
                        let _ = admin.close().await;
                    }
                    Err(reason) => eprintln!("could not drop test database {name}: {reason}"),
                }
            });
        });
        let _ = dropper.join();
    }
}

async fn admin_connection(url: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(url).map_err(|e| format!("bad URL: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 5 s".to_owned()),
    }
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Whether something answers PING at `url`; `false` means skip (and fails under CI).
pub async fn redis_available(url: &str) -> bool {
    match redis_ping(url).await {
        Ok(()) => true,
        Err(reason) => missing::<()>(&format!("Redis at {url}"), &reason).is_some(),
    }
}

async fn redis_ping(url: &str) -> Result<(), String> {
    let ping = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// A redis-server of this test's own on a free port, killed by its child handle (never by
/// name) on drop. The shared one on 6379 is never touched.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// `None` when redis-server cannot be run (a failure under CI).
    pub async fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        match server.spawn().await {
            Ok(()) => Some(server),
            Err(err) => missing("redis-server", &err.to_string()),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on this port and waits until it answers.
    pub async fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let url = self.url();
        let deadline = Instant::now() + PATIENCE;
        while let Err(reason) = redis_ping(&url).await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up: {reason}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn kill(&mut self) {
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

/// A SQLite file in the temp dir shared by the instances of a test, removed (with its WAL
/// files) on drop.
#[derive(Debug)]
pub struct TempSqlite(PathBuf);

impl TempSqlite {
    pub fn new() -> Self {
        let name = format!("tessera-cluster-test-{}.db", Uuid::new_v4().simple());
        Self(std::env::temp_dir().join(name))
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".key"] {
            let mut file = self.0.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Two instances on one store (and one cache when `extra_toml` sets it), sharing a clock, the
/// way a deployment's instances share the wall clock.
pub async fn spawn_pair(store_url: &str, extra_toml: &str) -> (TestApp, TestApp) {
    let clock = TestClock::starting_now();
    let a = spawn_instance(store_url, extra_toml, clock.clone()).await;
    let b = spawn_instance(store_url, extra_toml, clock).await;
    (a, b)
}

/// `[cache] url = …` for `extra_toml`. Every test instance calls from 127.0.0.1, and on a
/// shared Redis its per-address counters are shared with every parallel test (and every run
/// within the window), so the per-address limits are lifted; a test that wants one sets it
/// after this.
pub fn cache_toml(url: &str) -> String {
    format!(
        "[cache]\nurl = \"{url}\"\n[limits]\nlogin_per_ip = \"100000/min\"\n\
         login_attempts_per_ip = \"100000/min\"\nsignup_per_ip = \"100000/min\"\n\
         signup_global = \"100000/min\"\n"
    )
}

/// A user of its own for this test: the shared Redis keys throttles by account.
pub fn unique_email() -> String {
    format!("{}@example.com", Uuid::new_v4().simple())
}

/// Polls `probe` every 20 ms until it holds; panics after `within`. Returns how long it took.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if probe().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting until {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How a client presents a credential.
#[derive(Debug, Clone)]
pub enum Credential {
    Cookie(String),
    Bearer(String),
}

impl Credential {
    pub fn auth(&self) -> Auth<'_> {
        match self {
            Self::Cookie(cookie) => Auth::Cookie(cookie),
            Self::Bearer(token) => Auth::Bearer(token),
        }
    }
}

/// `GET /v1/check` with `credential`.
pub async fn check(app: &TestApp, credential: &Credential) -> StatusCode {
    app.check(credential.auth()).status().await
}

/// Polls until `app` refuses `credential`; returns how long that took.
pub async fn refused_within(
    app: &TestApp,
    credential: &Credential,
    what: &str,
    within: Duration,
) -> Duration {
    eventually(what, within, || async {
        match check(app, credential).await {
            StatusCode::UNAUTHORIZED => true,
            StatusCode::OK => false,
            other => panic!("{what}: unexpected {other}"),
        }
    })
    .await
}

/// `GET /readyz`: status and body.
pub async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let r = app.readyz().await;
    (r.status(), r.json().await.unwrap())
}

/// Waits until `/readyz` of every app says `status` (e.g. "ready": store up, feed connected).
pub async fn wait_status(apps: &[&TestApp], status: &str, within: Duration) -> Duration {
    eventually(&format!("/readyz says {status}"), within, || async {
        for app in apps {
            if readyz(app).await.1["status"] != status {
                return false;
            }
        }
        true
    })
    .await
}

/// `grant_type=refresh_token` on `app`.
pub async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let r = app.grant_refresh(token).await;
    (r.status(), r.json().await.unwrap())
}

/// `DELETE /v1/session` on `app` with `credential` (and the CSRF token a cookie needs).
pub async fn logout(app: &TestApp, credential: &Credential, csrf: Option<&str>) {
    let request = app.logout(credential.auth());
    let request = match credential {
        Credential::Cookie(_) => request.csrf(csrf.expect("a cookie logout needs the CSRF token")),
        Credential::Bearer(_) => request,
    };
    let status = request.status().await;
    assert_eq!(status, StatusCode::NO_CONTENT, "logout");
}

pub fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}
