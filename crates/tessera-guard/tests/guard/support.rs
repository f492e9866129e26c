//! Real Tessera instances in process (as tessera-server's own tests start them), a fresh
//! Postgres database per test, a guarded service, and a few HTTP helpers.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tessera_core::password::PasswordHasher;
use tessera_core::TestClock;
use tessera_guard::{Guard, GuardConfig, GuardLayer, Principal};
use tessera_server::config::Config;
use tessera_server::state::AppState;
use tessera_server::{Application, Options};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The issuer every test instance is configured with (`token.issuer`).
pub const ISSUER: &str = "http://tessera.test";
pub const PASSWORD: &str = "correct horse battery staple";
/// How long something that takes milliseconds may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One running Tessera instance; stopped (gracefully) when dropped.
pub struct Instance {
    pub base: String,
    pub state: AppState,
    pub http: Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn_instance(store_url: &str, clock: TestClock) -> Instance {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{store_url}\"\n\
         [token]\nissuer = \"{ISSUER}\"\n[email]\nverification = \"off\"\n"
    );
    let config = Config::from_toml_str(&text).expect("test configuration is valid");
    let hasher = PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap());
    let app = Application::build(
        config,
        Options {
            clock: Arc::new(clock),
            hasher,
        },
    )
    .await
    .expect("test app starts");
    let base = format!("http://{}", app.local_addr());
    let state = app.state();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Instance {
        base,
        state,
        http: Client::new(),
        stop: Some(stop),
    }
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A registered resource-server client: id and secret.
    pub async fn client(&self) -> (String, String) {
        let (client, secret) = tessera_engine::clients::create(&self.state, "api", None)
            .await
            .unwrap();
        (client.id.to_string(), secret.expose().to_owned())
    }

    pub async fn create_user(&self) -> String {
        let email = format!("{}@example.com", Uuid::new_v4().simple());
        let r = self
            .http
            .post(self.url("/v1/users"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "sign-up");
        email
    }

    /// A fresh session of `email`: its access token (JWT).
    pub async fn access_token(&self, email: &str) -> String {
        let r = self
            .http
            .post(self.url("/v1/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "password grant");
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A fresh session of `email` as an opaque `tss_` token.
    pub async fn session_token(&self, email: &str) -> String {
        let r = self
            .http
            .post(self.url("/v1/session"))
            .json(&json!({"email": email, "password": PASSWORD, "transport": "body"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login");
        r.json::<Value>().await.unwrap()["session_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Logs the session of `token` out (RFC 7009 revocation of its access token).
    pub async fn logout(&self, token: &str) {
        let r = self
            .http
            .post(self.url("/v1/token/revoke"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "revoke");
    }
}

/// A guard for `servers` (tried in order) with `client`, quick to reconnect.
pub fn guard_config(servers: &[&Instance], client: &(String, String)) -> GuardConfig {
    let mut cfg = GuardConfig::new(ISSUER)
        .servers(servers.iter().map(|s| s.base.clone()))
        .client(&client.0, &client.1);
    cfg.reconnect_max = Duration::from_millis(500);
    cfg
}

pub async fn start_guard(cfg: GuardConfig) -> Guard {
    let guard = Guard::start(cfg).await.expect("the guard starts");
    assert!(
        guard.wait_in_sync(PATIENCE).await,
        "the guard reached ready"
    );
    guard
}

/// A service guarded by `guard`, serving `GET /me` (the principal as JSON); its base URL.
pub async fn guarded_service(guard: Guard) -> String {
    let app = Router::new()
        .route(
            "/me",
            get(|principal: Principal| async move {
                Json(json!({
                    "user": principal.user.to_string(),
                    "session": principal.session.to_string(),
                    "client_id": principal.client_id,
                }))
            }),
        )
        .layer(GuardLayer::new(guard));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// `GET /me` on the guarded service with a bearer token: the status and the challenge.
pub async fn call(service: &str, token: &str) -> (StatusCode, Option<String>) {
    let r = Client::new()
        .get(format!("{service}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status(), challenge)
}

/// Polls `probe` every 5 ms until it holds; panics after `within`. Returns how long it took.
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
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A brand-new Postgres database, dropped `WITH (FORCE)` when this is dropped. `None` (the test
/// is skipped) when Postgres is unreachable and CI is not set.
pub struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.into());
        let mut admin = match connect(&admin_url).await {
            Ok(conn) => conn,
            Err(reason) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "Postgres unreachable: {reason}"
                );
                eprintln!("skipping: Postgres is unreachable ({reason})");
                return None;
            }
        };
        let name = format!("tessera_test_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        Some(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin_url =
            std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.into());
        // Its own thread and runtime: this may run while the test's runtime is shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&mut admin).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}
