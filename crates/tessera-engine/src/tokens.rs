//! Access tokens, refresh tokens and the revoked-session set.
//!
//! The token layer shares the session root: a token login opens a session of kind `token`, its
//! refresh tokens form one family bound to it, and every access token carries its id in `sid`.
//! Ending the session puts its id in the revoked-session set that every JWT check consults, so
//! access tokens die with their session without a store call per check.

use serde_json::json;
use tessera_core::credential::Presented;
use tessera_core::session::SessionLifetimes;
use tessera_core::store::Store;
use tessera_core::{Clock, CustomClaims, KeyState, Roles, Scope, SessionId, SigningKeyRecord};
use tessera_token::refresh::RefreshPolicy;
use tessera_token::rotation;
use tessera_token::{signing_precedence, EncryptionKey, KeyError, KeyRing, TokenConfig, Verifier};
use time::OffsetDateTime;

use crate::error::EngineResult;
use crate::settings::Settings;
use crate::{sessions, AuditKind, Caller, Engine};

/// Everything the token endpoints and the JWT check need.
#[derive(Debug)]
pub struct TokenService {
    pub cfg: TokenConfig,
    pub verifier: Verifier,
    pub refresh: RefreshPolicy,
    pub encryption_key: Option<EncryptionKey>,
    /// Token sessions live as long as their refresh tokens may: idle and absolute both
    /// `token.refresh_ttl`, so a mobile app that refreshes now and then stays signed in for the
    /// refresh lifetime and no longer.
    pub session_lifetimes: SessionLifetimes,
    /// The key records the current ring was built from, so a periodic reload that finds them
    /// unchanged neither rebuilds the ring nor drops the verified-token cache.
    loaded_keys: std::sync::Mutex<Vec<SigningKeyRecord>>,
    /// When a token with an unknown `kid` last made this instance reload its ring (Unix ms).
    last_unknown_kid_reload: std::sync::atomic::AtomicI64,
}

/// A token signed by a key this instance has not loaded yet (another instance created or
/// promoted it moments ago) reloads the ring at most this often; random `kid`s an attacker
/// sends cost at most one small store read per interval.
const UNKNOWN_KID_RELOAD_EVERY: time::Duration = time::Duration::seconds(1);

#[derive(Debug, thiserror::Error)]
pub enum TokenSetupError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] tessera_core::StoreError),
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

impl TokenService {
    /// Loads the key ring, creating the first keys on an empty store, and seeds the revoked
    /// set with every session revoked within the last token horizon.
    pub async fn load(
        settings: &Settings,
        store: &dyn Store,
        clock: &dyn Clock,
    ) -> Result<Self, TokenSetupError> {
        let cfg = settings.tokens.clone();
        let encryption_key = crate::key_file::encryption_key(settings, &store.list_keys().await?)?;
        let now = clock.now();
        let records = load_keys(store, &cfg, encryption_key.as_ref(), now).await?;
        let verifier = Verifier::new(
            KeyRing::from_records(&records, encryption_key.as_ref())?,
            &cfg,
        );
        verifier
            .revoked()
            .extend(store.revoked_since(now - cfg.token_horizon()).await?);
        Ok(Self {
            verifier,
            refresh: settings.refresh,
            encryption_key,
            session_lifetimes: settings.token_session_lifetimes(),
            cfg,
            loaded_keys: std::sync::Mutex::new(records),
            last_unknown_kid_reload: std::sync::atomic::AtomicI64::new(i64::MIN),
        })
    }

    /// Reloads the ring after a token named a `kid` this ring lacks, unless that happened less
    /// than [`UNKNOWN_KID_RELOAD_EVERY`] ago. True when it reloaded (the caller checks again).
    pub async fn reload_for_unknown_kid(&self, store: &dyn Store, now: OffsetDateTime) -> bool {
        use std::sync::atomic::Ordering;
        let now_ms = tessera_core::clock::to_unix_millis(now);
        let last = self.last_unknown_kid_reload.load(Ordering::Acquire);
        let due = last == i64::MIN
            || now_ms.saturating_sub(last) >= UNKNOWN_KID_RELOAD_EVERY.whole_milliseconds() as i64;
        if !due
            || self
                .last_unknown_kid_reload
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        match self.reload_ring(store).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %crate::error::chain(&err), "could not reload signing keys");
                false
            }
        }
    }

    /// Rebuilds the ring from the store when its keys changed, to pick up a rotation made by
    /// another instance or the CLI. Run on a timer; unchanged keys cost one small query.
    pub async fn reload_ring(&self, store: &dyn Store) -> Result<(), TokenSetupError> {
        let records = store.list_keys().await?;
        let mut loaded = self
            .loaded_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *loaded == records {
            return Ok(());
        }
        self.verifier.replace_ring(KeyRing::from_records(
            &records,
            self.encryption_key.as_ref(),
        )?);
        *loaded = records;
        Ok(())
    }
}

/// Lists the keys, applies `ensure_initial` (first start, algorithm change), and returns what
/// the store holds afterwards — so two instances starting together both end up with every key
/// either of them created.
async fn load_keys(
    store: &dyn Store,
    cfg: &TokenConfig,
    encryption_key: Option<&EncryptionKey>,
    now: OffsetDateTime,
) -> Result<Vec<SigningKeyRecord>, TokenSetupError> {
    let records = store.list_keys().await?;
    let changes = rotation::ensure_initial(&records, cfg, now, encryption_key);
    if changes.is_empty() {
        return settle_one_current(store, records, now).await;
    }
    rotation::persist(store, &changes).await?;
    tracing::info!(changes = changes.len(), "signing keys initialised");
    settle_one_current(store, store.list_keys().await?, now).await
}

/// Two instances starting together on an empty store can each create a current key. Every
/// instance keeps the one a ring signs with ([`signing_precedence`]) and makes the others `next` again: they stay published, so a token
/// one of them signed meanwhile still verifies, and a later rotation promotes them like any
/// next key. Demoting is idempotent, so instances settling at once agree.
async fn settle_one_current(
    store: &dyn Store,
    records: Vec<SigningKeyRecord>,
    now: OffsetDateTime,
) -> Result<Vec<SigningKeyRecord>, TokenSetupError> {
    let mut currents: Vec<&SigningKeyRecord> = records
        .iter()
        .filter(|r| r.state == KeyState::Current)
        .collect();
    if currents.len() <= 1 {
        return Ok(records);
    }
    currents.sort_by(|a, b| signing_precedence(a).cmp(&signing_precedence(b)));
    currents.pop();
    for extra in currents {
        store.set_key_state(&extra.kid, KeyState::Next, now).await?;
        tracing::info!(kid = %extra.kid, "another instance's first key signs; this one waits as next");
    }
    Ok(store.list_keys().await?)
}

pub fn is_revoked(engine: &Engine, id: SessionId) -> bool {
    engine.tokens.verifier.revoked().contains(&id)
}

pub fn mark_revoked(engine: &Engine, id: SessionId, at: OffsetDateTime) {
    engine.tokens.verifier.revoked().insert(id, at);
}

/// RFC 7009: ends the session behind any of our tokens. Unknown or invalid tokens are ignored.
pub async fn revoke_token(engine: &Engine, token: &str, caller: &Caller) -> EngineResult<()> {
    let now = engine.clock.now();
    let target = match Presented::classify(token) {
        Presented::RefreshToken(secret) => engine
            .store
            .refresh_by_hash(&secret.hash())
            .await?
            .map(|t| (t.session_id, t.user_id)),
        Presented::SessionSecret(secret) => engine
            .store
            .session_by_secret_hash(&secret.hash())
            .await?
            .map(|s| (s.id, s.user_id)),
        Presented::AccessToken(jwt) => engine
            .tokens
            .verifier
            .check(jwt, now)
            .ok()
            .map(|c| (c.sid, c.sub)),
        Presented::Unrecognised => None,
    };
    if let Some((session_id, user_id)) = target {
        sessions::revoke(
            engine,
            session_id,
            user_id,
            AuditKind::TokenRevoked,
            Some(caller),
        )
        .await?;
    }
    Ok(())
}

/// RFC 7662 for access, refresh and session tokens. Anything not currently usable is inactive.
pub async fn introspect(engine: &Engine, token: &str) -> EngineResult<serde_json::Value> {
    let now = engine.clock.now();
    let cfg = &engine.tokens.cfg;
    let inactive = json!({ "active": false });
    match Presented::classify(token) {
        Presented::RefreshToken(secret) => {
            let Some(t) = engine.store.refresh_by_hash(&secret.hash()).await? else {
                return Ok(inactive);
            };
            let usable = t.used_at.is_none() && t.revoked_at.is_none() && now < t.expires_at;
            let live = sessions::live_by_id(engine, t.session_id, now).await?;
            let (Some((session, user)), true) = (live, usable) else {
                return Ok(inactive);
            };
            let body = json!({
                "active": true, "token_type": "refresh_token", "sub": t.user_id.to_string(),
                "sid": t.session_id.to_string(), "exp": t.expires_at.unix_timestamp(),
                "iat": t.created_at.unix_timestamp(), "iss": cfg.issuer, "aud": cfg.audience,
                "amr": session.amr.claim(), "acr": session.amr.acr(),
            });
            Ok(with_authz(
                body,
                &user.roles,
                session.scope.as_ref(),
                &user.claims,
            ))
        }
        Presented::SessionSecret(secret) => {
            let Some(s) = engine.store.session_by_secret_hash(&secret.hash()).await? else {
                return Ok(inactive);
            };
            if s.secret_hash != secret.hash() {
                return Ok(inactive);
            }
            let Some((s, user)) = sessions::live_by_id(engine, s.id, now).await? else {
                return Ok(inactive);
            };
            let body = json!({
                "active": true, "token_type": "session_token", "sub": s.user_id.to_string(),
                "sid": s.id.to_string(), "exp": s.idle_expires_at.min(s.expires_at).unix_timestamp(),
                "iat": s.created_at.unix_timestamp(), "iss": cfg.issuer, "aud": cfg.audience,
                "amr": s.amr.claim(), "acr": s.amr.acr(),
            });
            Ok(with_authz(
                body,
                &user.roles,
                s.scope.as_ref(),
                &user.claims,
            ))
        }
        Presented::AccessToken(jwt) => Ok(match engine.tokens.verifier.check(jwt, now) {
            Ok(c) => {
                let mut body = json!({
                    "active": true, "token_type": "access_token", "sub": c.sub.to_string(),
                    "sid": c.sid.to_string(), "exp": c.exp, "iat": c.iat, "iss": c.iss,
                    "aud": c.aud, "jti": c.jti, "client_id": c.client_id,
                });
                if let Some(scope) = c.scope {
                    body["scope"] = json!(scope);
                }
                if !c.roles.is_empty() {
                    body["roles"] = json!(c.roles);
                }
                if !c.amr.is_empty() {
                    body["amr"] = json!(c.amr);
                }
                if let Some(acr) = c.acr {
                    body["acr"] = json!(acr);
                }
                // What the token says, as it says it: custom claims beside the standard members.
                for (name, value) in c.custom {
                    body[name] = value;
                }
                body
            }
            Err(_) => inactive,
        }),
        Presented::Unrecognised => Ok(inactive),
    }
}

/// An introspection answer with what the credential carries: `roles` and `scope` when there
/// are any, and the custom claims beside the standard members (RFC 7662 §2.2 allows extension
/// members; their names cannot shadow the standard ones, see `tessera_core::RESERVED_CLAIMS`).
fn with_authz(
    mut body: serde_json::Value,
    roles: &Roles,
    scope: Option<&Scope>,
    claims: &CustomClaims,
) -> serde_json::Value {
    if !roles.is_empty() {
        body["roles"] = json!(roles);
    }
    if let Some(scope) = scope {
        body["scope"] = json!(scope.to_string());
    }
    for (name, value) in claims.as_map() {
        body[name] = value.clone();
    }
    body
}
