//! Shared application state: configuration, stores, clock and the in-process hot-path caches.

use std::sync::Arc;

use tessera_core::password::PasswordHasher;
use tessera_core::session::SessionLifetimes;
use tessera_core::store::Store;
use tessera_core::types::PasswordPolicy;
use tessera_core::{Clock, NewAuditEvent, SessionId, UserId};

use crate::cache::SessionCache;
use crate::config::Config;
use crate::extract::Caller;
use crate::hashing::HashPool;
use crate::shared_sessions::SharedSessions;
use crate::throttle::Throttles;

/// How long a cached session is trusted before the store is asked again. Revocations made by
/// this instance evict immediately; this bounds how long a change made elsewhere can go unseen
/// when no revocation feed is configured.
const SESSION_CACHE_TTL: time::Duration = time::Duration::seconds(5);
const SESSION_CACHE_CAPACITY: usize = 100_000;
/// Keys the server derives per-session values from. They live in the store, so every instance
/// and every restart uses the same ones.
#[derive(Clone)]
pub struct ServerSecrets {
    /// CSRF tokens are HMACs of the session id under this key.
    pub csrf: [u8; 32],
    /// Refresh-token successors are derived under this key.
    pub refresh: [u8; 32],
    /// Authenticates the shared session cache's records in Redis, so that write access to
    /// Redis alone cannot forge a session.
    pub shared_cache: [u8; 32],
}

impl ServerSecrets {
    /// Loads the secrets, creating them on first start. The first instance to write wins.
    pub async fn load(store: &dyn Store) -> Result<Self, tessera_core::StoreError> {
        Ok(Self {
            csrf: Self::one(store, "csrf-v1").await?,
            refresh: Self::one(store, "refresh-successor-v1").await?,
            shared_cache: Self::one(store, "shared-cache-mac-v1").await?,
        })
    }

    async fn one(store: &dyn Store, name: &str) -> Result<[u8; 32], tessera_core::StoreError> {
        let bytes = store
            .server_secret(name, &tessera_core::secret::random_bytes::<32>())
            .await?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            tessera_core::StoreError::Corrupt(format!("server secret {name} is not 32 bytes"))
        })
    }
}

impl std::fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecrets(<redacted>)")
    }
}

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hashing: HashPool,
    pub policy: PasswordPolicy,
    pub lifetimes: SessionLifetimes,
    pub sessions: SessionCache,
    /// The session cache shared through Redis, when `cache.url` is set.
    pub shared_sessions: Option<Arc<SharedSessions>>,
    pub throttles: Throttles,
    pub secrets: ServerSecrets,
    pub cookies: crate::cookies::CookieNames,
    pub public_origin: String,
    pub tokens: crate::service::tokens::TokenService,
    /// Tells every instance about revocations; see `tessera_store::feed`.
    pub feed: Arc<dyn tessera_store::RevocationFeed>,
    /// What this instance's revocation-stream subscribers hear; see `service::stream`.
    pub revocation_stream: crate::service::stream::RevocationHub,
}

/// What `AppState::new` assembles besides the configuration.
#[derive(Debug)]
pub struct Dependencies {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub secrets: ServerSecrets,
    pub tokens: crate::service::tokens::TokenService,
    pub feed: Arc<dyn tessera_store::RevocationFeed>,
}

/// Cheap to clone; handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, deps: Dependencies) -> Result<Self, tessera_core::StoreError> {
        let Dependencies {
            store,
            clock,
            hasher,
            secrets,
            tokens,
            feed,
        } = deps;
        let policy = PasswordPolicy::new(
            config.password.min_length,
            config.password.deny_list.clone(),
        );
        let lifetimes = SessionLifetimes {
            idle: config.session.idle_timeout.0,
            absolute: config.session.absolute_timeout.0,
        };
        let throttles = Throttles::new(&config.limits, config.cache.url.as_deref())?;
        let shared_sessions = config
            .cache
            .url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                SharedSessions::new(url, tokens.cfg.token_horizon(), secrets.shared_cache)
                    .map(Arc::new)
            })
            .transpose()?;
        let slots = config.password.hashing_slots.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let cookies = crate::cookies::CookieNames::new(config.cookie_secure());
        let public_origin = config.public_origin();
        let revocation_stream = crate::service::stream::RevocationHub::new(
            config.revocations.max_subscribers,
            crate::service::stream::published_kids(&tokens.verifier.ring()),
        );
        Ok(Self(Arc::new(Inner {
            revocation_stream,
            hashing: HashPool::new(hasher, slots)
                .expect("cannot start the password-hashing threads"),
            sessions: SessionCache::new(SESSION_CACHE_TTL, SESSION_CACHE_CAPACITY),
            shared_sessions,
            policy,
            lifetimes,
            throttles,
            secrets,
            cookies,
            public_origin,
            tokens,
            feed,
            config,
            store,
            clock,
        })))
    }

    /// Appends to the audit log. A failure to audit is logged but does not fail the request:
    /// the security action itself (e.g. a revocation) has already happened. `kind` is `'static`
    /// because it is also a metric label: it must come from the code, never from a request.
    pub async fn audit(
        &self,
        kind: &'static str,
        user_id: Option<UserId>,
        session_id: Option<SessionId>,
        caller: Option<&Caller>,
        detail: serde_json::Value,
    ) {
        let event = NewAuditEvent {
            kind: kind.to_owned(),
            at: self.clock.now(),
            user_id,
            session_id,
            ip: caller.map(|c| c.ip.to_string()),
            user_agent: caller
                .and_then(|c| c.user_agent.clone())
                .map(|ua| ua.chars().take(256).collect()),
            detail,
        };
        if let Err(err) = self.store.append_event(&event).await {
            tracing::warn!(error = %err, kind, "could not append audit event");
        }
        metrics::counter!("tessera_audit_events_total", "type" => kind).increment(1);
    }
}
