//! Engines on a shared store, with a test clock and cheap hashing.

use std::sync::Arc;

use tessera_core::password::PasswordHasher;
use tessera_core::session::SessionLifetimes;
use tessera_core::store::Store;
use tessera_core::types::PasswordPolicy;
use tessera_core::TestClock;
use tessera_engine::settings::{EmailSettings, VerificationMode};
use tessera_engine::{Dependencies, Engine, KeySettings, Limits, Settings};
use tessera_token::refresh::RefreshPolicy;
use tessera_token::{Alg, TokenConfig};
use time::{Duration, OffsetDateTime};

/// The settings of a default server, on `store_url`.
pub fn settings(store_url: &str) -> Settings {
    Settings {
        tokens: TokenConfig {
            issuer: "http://localhost:8080".into(),
            audience: "tessera".into(),
            access_ttl: Duration::minutes(5),
            leeway: Duration::seconds(30),
            algorithm: Alg::EdDSA,
        },
        refresh: RefreshPolicy {
            ttl: Duration::days(30),
            grace: Duration::ZERO,
        },
        password_policy: PasswordPolicy::new(8, Vec::new()),
        session_lifetimes: SessionLifetimes {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        },
        max_sessions_per_user: 100,
        sweep_interval: Duration::seconds(1),
        limits: Limits::default(),
        cache_url: None,
        hashing_slots: Some(1),
        max_revocation_subscribers: 10,
        store_url: store_url.to_owned(),
        // Keys in clear: these stores are throw-away, and no key file is wanted in the temp dir.
        keys: KeySettings::default(),
        admin_api_key: None,
        authz: tessera_engine::AuthzSettings::default(),
        mfa: tessera_engine::MfaSettings::default(),
        email: EmailSettings {
            verification: VerificationMode::Off,
            dir: std::env::temp_dir().join(format!("tessera-engine-mail-{}", uuid::Uuid::new_v4())),
            ..EmailSettings::new("http://localhost:8080")
        },
    }
}

pub fn clock() -> TestClock {
    TestClock::at(OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time"))
}

/// One "instance": an engine over `store`, started the way the server starts it.
pub async fn engine(store: Arc<dyn Store>, clock: &TestClock, settings: Settings) -> Arc<Engine> {
    let deps = Dependencies {
        store,
        clock: Arc::new(clock.clone()),
        hasher: PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).expect("params")),
    };
    let (engine, _events) = Engine::start(settings, deps)
        .await
        .expect("the engine starts");
    Arc::new(engine)
}

/// Generates one test per store backend from `async fn name(store: Arc<dyn Store>)`; Postgres
/// is skipped only when it is unreachable and `CI` is unset.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use std::sync::Arc;
                use tessera_store::conformance::fixtures;

                #[tokio::test]
                async fn memory() {
                    let fixture = fixtures::memory().await.expect("memory");
                    super::$name(fixture.store.clone() as Arc<dyn tessera_core::store::Store>).await;
                    fixture.teardown().await;
                }
                #[tokio::test]
                async fn sqlite() {
                    let fixture = fixtures::sqlite_file().await.expect("sqlite");
                    super::$name(fixture.store.clone() as Arc<dyn tessera_core::store::Store>).await;
                    fixture.teardown().await;
                }
                #[tokio::test]
                async fn postgres() {
                    let Some(fixture) = fixtures::postgres().await else { return };
                    super::$name(fixture.store.clone() as Arc<dyn tessera_core::store::Store>).await;
                    fixture.teardown().await;
                }
            }
        )*
    };
}
