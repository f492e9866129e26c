//! The engine: every use case's shared state — stores, clock, caches, throttles, keys — built
//! once at start and handed to every use case as `&Engine`.

use std::sync::Arc;

use tessera_core::password::PasswordHasher;
use tessera_core::store::Store;
use tessera_core::{Clock, NewAuditEvent, SessionId, StoreError, UserId};
use tessera_store::FeedEvent;
use tokio::sync::broadcast;

use crate::audit::AuditKind;
use crate::caller::Caller;
use crate::hashing::HashPool;
use crate::mail::Mailer;
use crate::session_cache::SessionCache;
use crate::settings::Settings;
use crate::stream::RevocationHub;
use crate::throttle::Throttles;
use crate::tokens::{TokenService, TokenSetupError};

/// Keys the engine derives per-session values from. They live in the store, so every instance
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
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        Ok(Self {
            csrf: Self::one(store, "csrf-v1").await?,
            refresh: Self::one(store, "refresh-successor-v1").await?,
            shared_cache: Self::one(store, "shared-cache-mac-v1").await?,
        })
    }

    async fn one(store: &dyn Store, name: &str) -> Result<[u8; 32], StoreError> {
        let bytes = store
            .server_secret(name, &tessera_core::secret::random_bytes::<32>())
            .await?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| StoreError::Corrupt(format!("server secret {name} is not 32 bytes")))
    }
}

impl std::fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecrets(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[source] StoreError),
    #[error("cannot load signing keys: {0}")]
    Tokens(#[source] TokenSetupError),
    #[error("cannot start the password-hashing threads: {0}")]
    Hashing(#[source] std::io::Error),
    #[error("cannot set up mail delivery: {0}")]
    Mail(#[source] crate::mail::MailSetupError),
    #[error("invalid WebAuthn relying party: {0}")]
    Webauthn(String),
}

/// What the engine runs on besides its settings; tests swap the clock and the hashing cost.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
}

/// What [`Engine::health`] found.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    pub store_backend: &'static str,
    pub store_ok: bool,
    pub feed_transport: &'static str,
    pub feed_ok: bool,
}

#[derive(Debug)]
pub struct Engine {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hashing: HashPool,
    /// Local, shared (Redis) and store tiers of the session lookup.
    pub sessions: SessionCache,
    pub throttles: Throttles,
    pub secrets: ServerSecrets,
    pub tokens: TokenService,
    /// Tells every instance about revocations; see `tessera_store::feed`.
    pub feed: Arc<dyn tessera_store::RevocationFeed>,
    /// What this instance's revocation-stream subscribers hear; see [`crate::stream`].
    pub revocation_stream: RevocationHub,
    /// Templates and transport of the outbox sender; see [`crate::mail`].
    pub mailer: Mailer,
    /// The WebAuthn relying party, when passkeys are on (`mfa.webauthn`).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

impl Engine {
    /// Loads what the engine needs from the store: shared secrets, signing keys (created on
    /// first start) and the recently revoked sessions. Also returns a subscription to the
    /// revocation feed taken *before* the revoked set was loaded, so no revocation falls between
    /// the two; [`crate::tasks::Background::start`] follows it.
    pub async fn start(
        settings: Settings,
        deps: Dependencies,
    ) -> Result<(Self, broadcast::Receiver<FeedEvent>), StartError> {
        let Dependencies {
            store,
            clock,
            hasher,
        } = deps;
        let feed = tessera_store::open_feed(
            store.clone(),
            &settings.store_url,
            settings.cache_url.as_deref(),
        )
        .await
        .map_err(StartError::Store)?;
        let events = feed.subscribe();
        let secrets = ServerSecrets::load(store.as_ref())
            .await
            .map_err(StartError::Store)?;
        let tokens = TokenService::load(&settings, store.as_ref(), clock.as_ref())
            .await
            .map_err(StartError::Tokens)?;
        let throttles = Throttles::new(&settings.limits, settings.cache_url.as_deref())
            .map_err(StartError::Store)?;
        let sessions = SessionCache::new(
            settings.cache_url.as_deref(),
            tokens.cfg.token_horizon(),
            secrets.shared_cache,
        )
        .map_err(StartError::Store)?;
        let slots = settings.hashing_slots.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let hashing = HashPool::new(hasher, slots).map_err(StartError::Hashing)?;
        let mailer = Mailer::new(&settings.email).map_err(StartError::Mail)?;
        let webauthn = settings
            .mfa
            .webauthn
            .as_ref()
            .map(crate::factors::passkeys::relying_party)
            .transpose()
            .map_err(StartError::Webauthn)?
            .map(Arc::new);
        let revocation_stream = RevocationHub::new(
            settings.max_revocation_subscribers,
            crate::stream::published_kids(&tokens.verifier.ring()),
        );
        let engine = Self {
            settings,
            store,
            clock,
            hashing,
            sessions,
            throttles,
            secrets,
            tokens,
            feed,
            revocation_stream,
            mailer,
            webauthn,
        };
        Ok((engine, events))
    }

    /// Whether the store and the revocation feed answer, for readiness checks.
    pub async fn health(&self) -> Health {
        let store_ok = match self.store.ping().await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %crate::error::chain(&err), "readiness: store unreachable");
                false
            }
        };
        Health {
            store_backend: self.store.backend(),
            store_ok,
            feed_transport: self.feed.transport(),
            feed_ok: self.feed.is_connected(),
        }
    }

    /// Appends to the audit log. A failure to audit is logged but does not fail the use case:
    /// the security action itself (e.g. a revocation) has already happened.
    pub async fn audit(
        &self,
        kind: AuditKind,
        user_id: Option<UserId>,
        session_id: Option<SessionId>,
        caller: Option<&Caller>,
        detail: serde_json::Value,
    ) {
        let event = NewAuditEvent {
            kind: kind.as_str().to_owned(),
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
            tracing::warn!(error = %err, kind = kind.as_str(), "could not append audit event");
        }
        metrics::counter!("tessera_audit_events_total", "type" => kind.as_str()).increment(1);
    }
}
