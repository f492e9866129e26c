//! The guard: one per service, cheap to clone, shared by every request.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method};
use tessera_core::SessionId;
use tessera_token::{KeyRing, TokenConfig, Verifier, VerifyError};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::check_cache::CheckCache;
use crate::config::{CutoffPolicy, GuardConfig};
use crate::credential::{is_unsafe, Credential};
use crate::error::{GuardError, StartError};
use crate::principal::Principal;
use crate::server::Server;
use crate::stream::{self, SyncState};

/// Never refetch the JWKS more often than this, whatever `max-age` says.
const MIN_JWKS_AGE: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Verifies Tessera credentials. Start it once with [`Guard::start`]; clones share everything.
/// The background tasks (the revocation stream, JWKS refresh) stop when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
    _tasks: Arc<Tasks>,
}

pub(crate) struct Inner {
    pub cfg: GuardConfig,
    pub server: Server,
    /// tessera-token's verifier: the server's own rules, and the revoked-session set the stream
    /// fills.
    pub verifier: Verifier,
    pub sync: SyncState,
    pub keys_changed: Notify,
    /// When the JWKS was last fetched; the lock also makes concurrent refetches wait for one.
    keys_fetched: tokio::sync::Mutex<Instant>,
    keys_expire: Mutex<Instant>,
    checks: CheckCache,
}

struct Tasks(Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Guard {
    /// Discovers the server, fetches its keys and starts following revocations. Returns once
    /// the keys are loaded; [`Guard::wait_in_sync`] waits for the revocation backlog too.
    pub async fn start(cfg: GuardConfig) -> Result<Self, StartError> {
        let server = Server::discover(&cfg).await?;
        let jwks = server
            .fetch_jwks()
            .await
            .map_err(|reason| StartError::Unreachable("the JWKS".into(), reason))?;
        let ring = KeyRing::from_jwks(&jwks.document)?;
        let mut token_cfg = TokenConfig::new(cfg.issuer.clone(), cfg.audience.clone());
        token_cfg.access_ttl =
            time::Duration::try_from(cfg.access_ttl).unwrap_or(time::Duration::MAX);
        token_cfg.leeway = time::Duration::try_from(cfg.leeway).unwrap_or(time::Duration::MAX);
        let inner = Arc::new(Inner {
            verifier: Verifier::new(ring, &token_cfg),
            keys_expire: Mutex::new(Instant::now() + keep_for(&cfg, jwks.max_age)),
            keys_fetched: tokio::sync::Mutex::new(Instant::now()),
            cfg,
            server,
            sync: SyncState::new(),
            keys_changed: Notify::new(),
            checks: CheckCache::default(),
        });
        let tasks = vec![
            tokio::spawn(stream::follow(Arc::clone(&inner))).abort_handle(),
            tokio::spawn(refresh_keys(Arc::clone(&inner))).abort_handle(),
            tokio::spawn(prune(Arc::clone(&inner))).abort_handle(),
        ];
        Ok(Self {
            inner,
            _tasks: Arc::new(Tasks(tasks)),
        })
    }

    /// Waits until the revoked-session set is complete (the stream's `ready`), at most
    /// `within`. Returns whether it is.
    pub async fn wait_in_sync(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.inner.sync.is_in_sync() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Whether the guard currently follows the stream with a complete set.
    pub fn is_in_sync(&self) -> bool {
        self.inner.sync.is_in_sync()
    }

    /// Whether the guard knows `session` as revoked.
    pub fn is_revoked(&self, session: &SessionId) -> bool {
        self.inner.verifier.revoked().contains(session)
    }

    pub fn config(&self) -> &GuardConfig {
        &self.inner.cfg
    }

    /// Verifies the credential of a request (headers and method, for the CSRF rules of
    /// cookies).
    pub async fn verify_request(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Principal, GuardError> {
        let credential = Credential::from_headers(headers).ok_or(GuardError::Missing)?;
        match &credential {
            Credential::BearerJwt(token) => self.verify_token(token).await,
            Credential::Cookie {
                value,
                access_token: true,
                ..
            } if !is_unsafe(method) => self.verify_token(value).await,
            // Cookies on unsafe methods need the server's CSRF check: never cached.
            Credential::Cookie { .. } if is_unsafe(method) => {
                self.inner.server.check(&credential, method, headers).await
            }
            Credential::SessionToken(_) | Credential::Cookie { .. } => {
                self.checked(&credential, method, headers).await
            }
        }
    }

    /// Verifies an access token (a JWT) exactly as the server does, against the revocations
    /// the stream announced; applies the cut-off policy when the stream has been lost too long.
    pub async fn verify_token(&self, token: &str) -> Result<Principal, GuardError> {
        let inner = &self.inner;
        let now = OffsetDateTime::now_utc();
        let claims = match inner.verifier.check(token, now) {
            Err(VerifyError::UnknownKey) if self.refetch_keys_for_unknown_kid().await => {
                inner.verifier.check(token, now)?
            }
            result => result?,
        };
        if !inner
            .sync
            .cut_off_longer_than(inner.cfg.effective_cutoff_bound())
        {
            return Ok(claims.into());
        }
        match inner.cfg.cutoff_policy {
            CutoffPolicy::AcceptWithWarning => {
                tracing::warn!(
                    sid = %claims.sid,
                    "accepting an access token while cut off from the revocation stream"
                );
                Ok(claims.into())
            }
            CutoffPolicy::Refuse => Err(GuardError::Unavailable("cut off from revocations")),
            CutoffPolicy::AskServer => {
                let credential = Credential::BearerJwt(token.to_owned());
                self.checked(&credential, &Method::GET, &HeaderMap::new())
                    .await?;
                Ok(claims.into())
            }
        }
    }

    /// `/v1/check`, through the short cache. A cached answer whose session the stream has since
    /// announced revoked is refused.
    async fn checked(
        &self,
        credential: &Credential,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Principal, GuardError> {
        let inner = &self.inner;
        let key = match credential {
            Credential::BearerJwt(token) | Credential::SessionToken(token) => token,
            Credential::Cookie { pair, .. } => pair,
        };
        let ttl = inner.cfg.check_cache_ttl;
        if let Some(principal) = inner.checks.get(key, ttl) {
            if self.is_revoked(&principal.session) {
                return Err(GuardError::Invalid("revoked"));
            }
            return Ok(principal);
        }
        let principal = inner.server.check(credential, method, headers).await?;
        inner.checks.insert(key, principal.clone(), ttl);
        Ok(principal)
    }

    /// Refetches the JWKS unless that was done less than the configured interval ago.
    /// Returns whether a new ring was loaded.
    async fn refetch_keys_for_unknown_kid(&self) -> bool {
        let inner = &self.inner;
        let mut fetched = inner.keys_fetched.lock().await;
        if fetched.elapsed() < inner.cfg.unknown_kid_refetch_interval {
            return false;
        }
        *fetched = Instant::now();
        inner.load_keys().await
    }
}

impl Inner {
    /// Fetches the JWKS and swaps the ring in. The caller holds `keys_fetched`.
    async fn load_keys(&self) -> bool {
        let jwks = match self.server.fetch_jwks().await {
            Ok(jwks) => jwks,
            Err(reason) => {
                tracing::warn!(reason, "JWKS fetch failed");
                return false;
            }
        };
        match KeyRing::from_jwks(&jwks.document) {
            Ok(ring) => {
                self.verifier.replace_ring(ring);
                *self
                    .keys_expire
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Instant::now() + keep_for(&self.cfg, jwks.max_age);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "the server's JWKS is not usable; keeping the old keys");
                false
            }
        }
    }
}

/// How long a fetched JWKS is kept: its `max-age`, within [`MIN_JWKS_AGE`] and the configured
/// maximum.
fn keep_for(cfg: &GuardConfig, max_age: Option<Duration>) -> Duration {
    max_age
        .unwrap_or(cfg.max_jwks_age)
        .clamp(MIN_JWKS_AGE, cfg.max_jwks_age.max(MIN_JWKS_AGE))
}

/// Refetches the JWKS when it expires and whenever the stream says the keys changed.
async fn refresh_keys(inner: Arc<Inner>) {
    loop {
        let expires = *inner
            .keys_expire
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tokio::select! {
            () = tokio::time::sleep_until(expires.into()) => {}
            () = inner.keys_changed.notified() => {}
        }
        let mut fetched = inner.keys_fetched.lock().await;
        *fetched = Instant::now();
        if !inner.load_keys().await {
            // Keep the old ring and try again soon.
            *inner
                .keys_expire
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now() + inner.cfg.reconnect_max;
        }
    }
}

/// Drops revocations whose tokens have all expired, and stale cache entries.
async fn prune(inner: Arc<Inner>) {
    loop {
        tokio::time::sleep(PRUNE_EVERY).await;
        let now = OffsetDateTime::now_utc();
        inner.verifier.revoked().prune(now);
        inner.verifier.prune_verified(now);
        inner.checks.prune(inner.cfg.check_cache_ttl);
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("cfg", &self.inner.cfg)
            .field("verifier", &self.inner.verifier)
            .field("in_sync", &self.is_in_sync())
            .finish_non_exhaustive()
    }
}
