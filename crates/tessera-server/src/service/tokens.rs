//! Access tokens, refresh tokens and the revoked-session set.
//!
//! The token layer shares the session root: a token login opens a session of kind `token`, its
//! refresh tokens form one family bound to it, and every access token carries its id in `sid`.
//! Ending the session puts its id in the revoked-session set that every JWT check consults, so
//! access tokens die with their session without a store call per check.

use std::sync::Arc;

use serde_json::json;
use tessera_core::session::SessionLifetimes;
use tessera_core::store::Store;
use tessera_core::{
    Clock, SecretToken, Session, SessionId, SessionKind, SigningKeyRecord, TokenKind, UserId,
};
use tessera_token::refresh::{self, RefreshPolicy, RotateResult, Rotation};
use tessera_token::rotation;
use tessera_token::{
    AccessTokenRequest, Alg, EncryptionKey, IssuedToken, KeyError, KeyRing, TokenConfig, Verifier,
};
use time::OffsetDateTime;

use crate::auth::{AuthMethod, Principal};
use crate::config::Config;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::service::sessions;
use crate::state::AppState;

/// The client id put in `client_id` when a first-party client does not name itself.
pub const DEFAULT_CLIENT_ID: &str = "first-party";

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
}

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
    pub fn config_from(config: &Config) -> TokenConfig {
        TokenConfig {
            issuer: config.issuer().to_owned(),
            audience: config.token.audience.clone(),
            access_ttl: config.token.access_ttl.0,
            leeway: config.token.leeway.0,
            algorithm: config
                .token
                .algorithm
                .parse::<Alg>()
                .expect("validated at load"),
        }
    }

    /// Loads the key ring, creating the first keys on an empty store, and seeds the revoked
    /// set with every session revoked within the last token horizon.
    pub async fn load(
        config: &Config,
        store: &dyn Store,
        clock: &dyn Clock,
    ) -> Result<Self, TokenSetupError> {
        let cfg = Self::config_from(config);
        let encryption_key =
            crate::service::key_file::encryption_key(config, &store.list_keys().await?)?;
        let now = clock.now();
        let records = load_keys(store, &cfg, encryption_key.as_ref(), now).await?;
        let verifier = Verifier::new(
            KeyRing::from_records(&records, encryption_key.as_ref())?,
            &cfg,
        );
        verifier
            .revoked()
            .extend(store.revoked_since(now - cfg.token_horizon()).await?);
        let refresh_ttl = config.token.refresh_ttl.0;
        Ok(Self {
            verifier,
            refresh: RefreshPolicy {
                ttl: refresh_ttl,
                grace: config.token.refresh_reuse_grace.0,
            },
            encryption_key,
            session_lifetimes: SessionLifetimes {
                idle: refresh_ttl,
                absolute: refresh_ttl,
            },
            cfg,
            loaded_keys: std::sync::Mutex::new(records),
        })
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
        return Ok(records);
    }
    rotation::persist(store, &changes).await?;
    tracing::info!(changes = changes.len(), "signing keys initialised");
    Ok(store.list_keys().await?)
}

/// `tessera keys rotate`: next → current → retired, a fresh next pre-published, expired
/// retired keys deleted.
pub async fn rotate_keys(state: &AppState) -> Result<usize, TokenSetupError> {
    let now = state.clock.now();
    let records = state.store.list_keys().await?;
    let changes = rotation::plan_rotation(
        &records,
        &state.tokens.cfg,
        now,
        state.tokens.encryption_key.as_ref(),
    );
    rotation::persist(state.store.as_ref(), &changes).await?;
    state.tokens.reload_ring(state.store.as_ref()).await?;
    Ok(changes.len())
}

/// The principal behind an access token, or `None` when it is not valid.
pub fn access_principal(state: &AppState, token: &str, from_cookie: bool) -> Option<Principal> {
    match state.tokens.verifier.check(token, state.clock.now()) {
        Ok(claims) => Some(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            method: AuthMethod::AccessToken,
            via_cookie: from_cookie,
            session: None,
            email: None,
            expires_at: claims.expires_at(),
            client_id: Some(claims.client_id),
        }),
        Err(reason) => {
            metrics::counter!("tessera_access_token_rejected_total", "reason" => reason.as_str())
                .increment(1);
            None
        }
    }
}

pub fn is_revoked(state: &AppState, id: SessionId) -> bool {
    state.tokens.verifier.revoked().contains(&id)
}

pub fn mark_revoked(state: &AppState, id: SessionId, at: OffsetDateTime) {
    state.tokens.verifier.revoked().insert(id, at);
}

/// What a successful grant hands out.
#[derive(Debug)]
pub struct Grant {
    pub access: IssuedToken,
    pub refresh: Rotation,
}

fn access_request(user: UserId, session: SessionId, client_id: &str) -> AccessTokenRequest {
    AccessTokenRequest {
        sub: user,
        sid: session,
        client_id: client_id.to_owned(),
        scope: None,
        roles: Vec::new(),
    }
}

fn issue_access(
    state: &AppState,
    user: UserId,
    session: SessionId,
    client_id: &str,
) -> Result<IssuedToken, ApiError> {
    state
        .tokens
        .verifier
        .ring()
        .issue(
            &access_request(user, session, client_id),
            &state.tokens.cfg,
            state.clock.now(),
        )
        .map_err(ApiError::internal)
}

/// `grant_type=password`: a token session, the first refresh token of its family, an access
/// token. Failures are all [`ApiError::InvalidGrant`].
pub async fn password_grant(
    state: &AppState,
    username: &str,
    password: &str,
    client_id: &str,
    caller: &Caller,
) -> Result<(Grant, Session), ApiError> {
    let login = sessions::login(state, username, password, SessionKind::Token, caller).await?;
    let grant = issue_grant(state, login.user.id, login.session.id, client_id).await?;
    Ok((grant, login.session))
}

/// The first refresh token of a new family for a freshly opened token session, and an access
/// token.
pub async fn issue_grant(
    state: &AppState,
    user_id: UserId,
    session_id: SessionId,
    client_id: &str,
) -> Result<Grant, ApiError> {
    let family = refresh::issue_family(
        state.store.as_ref(),
        session_id,
        user_id,
        state.clock.now(),
        &state.tokens.refresh,
    )
    .await?;
    let access = issue_access(state, user_id, session_id, client_id)?;
    Ok(Grant {
        access,
        refresh: family,
    })
}

/// The session a refresh token belongs to, if that token exists at all (for the CSRF check of
/// cookie-transport refreshes, which must happen before the token is spent).
pub async fn refresh_token_session(
    state: &AppState,
    presented: &SecretToken,
) -> Result<Option<SessionId>, ApiError> {
    Ok(state
        .store
        .refresh_by_hash(&presented.hash())
        .await?
        .map(|t| t.session_id))
}

/// `grant_type=refresh_token`: rotation with reuse detection.
pub async fn refresh_grant(
    state: &AppState,
    presented: &SecretToken,
    client_id: &str,
    caller: &Caller,
) -> Result<Grant, ApiError> {
    let now = state.clock.now();
    let outcome = refresh::rotate(
        state.store.as_ref(),
        presented,
        &state.secrets.refresh,
        now,
        &state.tokens.refresh,
    )
    .await?;
    let rotation = match outcome {
        RotateResult::Rotated(r) => r,
        RotateResult::GraceReplay(r) => {
            metrics::counter!("tessera_refresh_total", "result" => "grace_replay").increment(1);
            r
        }
        RotateResult::Reused {
            family_id,
            session_id,
            user_id,
        } => {
            state.store.revoke_refresh_family(family_id, now).await?;
            sessions::revoke(state, session_id, user_id, "refresh_reused", Some(caller)).await?;
            tracing::warn!(%session_id, "refresh token reuse detected; family and session revoked");
            metrics::counter!("tessera_refresh_total", "result" => "reused").increment(1);
            return Err(ApiError::InvalidGrant);
        }
        RotateResult::Invalid => {
            metrics::counter!("tessera_refresh_total", "result" => "invalid").increment(1);
            return Err(ApiError::InvalidGrant);
        }
    };
    // The family is only as alive as its session: a revoked, expired or locked one ends it.
    let Some(session) = live_token_session(state, rotation.session_id, now).await? else {
        state
            .store
            .revoke_refresh_family(rotation.family_id, now)
            .await?;
        return Err(ApiError::InvalidGrant);
    };
    if let Some(touch) = state.tokens.session_lifetimes.touch(&session, now) {
        state
            .store
            .touch_session(session.id, touch.last_seen_at, touch.idle_expires_at)
            .await?;
    }
    let access = issue_access(state, rotation.user_id, rotation.session_id, client_id)?;
    metrics::counter!("tessera_refresh_total", "result" => "rotated").increment(1);
    Ok(Grant {
        access,
        refresh: rotation,
    })
}

async fn live_token_session(
    state: &AppState,
    id: SessionId,
    now: OffsetDateTime,
) -> Result<Option<Session>, ApiError> {
    let Some(session) = state.store.session_by_id(id).await? else {
        return Ok(None);
    };
    if !SessionLifetimes::is_live(&session, now) || is_revoked(state, id) {
        return Ok(None);
    }
    let user = state.store.user_by_id(session.user_id).await?;
    Ok(user.filter(|u| !u.locked).map(|_| session))
}

/// RFC 7009: ends the session behind any of our tokens. Unknown or invalid tokens are ignored.
pub async fn revoke_token(state: &AppState, token: &str, caller: &Caller) -> Result<(), ApiError> {
    let now = state.clock.now();
    let target = if let Some(secret) = SecretToken::parse(TokenKind::Refresh, token) {
        state
            .store
            .refresh_by_hash(&secret.hash())
            .await?
            .map(|t| (t.session_id, t.user_id))
    } else if let Some(secret) = SecretToken::parse(TokenKind::Session, token) {
        state
            .store
            .session_by_secret_hash(&secret.hash())
            .await?
            .map(|s| (s.id, s.user_id))
    } else {
        state
            .tokens
            .verifier
            .check(token, now)
            .ok()
            .map(|c| (c.sid, c.sub))
    };
    if let Some((session_id, user_id)) = target {
        sessions::revoke(state, session_id, user_id, "token_revoked", Some(caller)).await?;
    }
    Ok(())
}

/// RFC 7662 for access, refresh and session tokens. Anything not currently usable is inactive.
pub async fn introspect(state: &AppState, token: &str) -> Result<serde_json::Value, ApiError> {
    let now = state.clock.now();
    let cfg = &state.tokens.cfg;
    let inactive = json!({ "active": false });
    if let Some(secret) = SecretToken::parse(TokenKind::Refresh, token) {
        let Some(t) = state.store.refresh_by_hash(&secret.hash()).await? else {
            return Ok(inactive);
        };
        let usable = t.used_at.is_none() && t.revoked_at.is_none() && now < t.expires_at;
        if !usable
            || live_token_session(state, t.session_id, now)
                .await?
                .is_none()
        {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true, "token_type": "refresh_token", "sub": t.user_id.to_string(),
            "sid": t.session_id.to_string(), "exp": t.expires_at.unix_timestamp(),
            "iat": t.created_at.unix_timestamp(), "iss": cfg.issuer, "aud": cfg.audience,
        }));
    }
    if let Some(secret) = SecretToken::parse(TokenKind::Session, token) {
        let Some(s) = state.store.session_by_secret_hash(&secret.hash()).await? else {
            return Ok(inactive);
        };
        let locked = state
            .store
            .user_by_id(s.user_id)
            .await?
            .is_none_or(|u| u.locked);
        if locked
            || s.secret_hash != secret.hash()
            || !SessionLifetimes::is_live(&s, now)
            || is_revoked(state, s.id)
        {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true, "token_type": "session_token", "sub": s.user_id.to_string(),
            "sid": s.id.to_string(), "exp": s.idle_expires_at.min(s.expires_at).unix_timestamp(),
            "iat": s.created_at.unix_timestamp(), "iss": cfg.issuer, "aud": cfg.audience,
        }));
    }
    Ok(match state.tokens.verifier.check(token, now) {
        Ok(c) => {
            let mut body = json!({
                "active": true, "token_type": "access_token", "sub": c.sub.to_string(),
                "sid": c.sid.to_string(), "exp": c.exp, "iat": c.iat, "iss": c.iss, "aud": c.aud,
                "jti": c.jti, "client_id": c.client_id,
            });
            if let Some(scope) = c.scope {
                body["scope"] = json!(scope);
            }
            body
        }
        Err(_) => inactive,
    })
}

/// Keeps the signing ring and the revoked set fresh: picks up rotations made elsewhere and
/// forgets revocations older than any live token.
pub async fn maintain(state: &AppState) {
    let now = state.clock.now();
    state.tokens.verifier.revoked().prune(now);
    state.tokens.verifier.prune_verified(now);
    if let Err(err) = state.tokens.reload_ring(state.store.as_ref()).await {
        tracing::warn!(error = %crate::error::chain(&err), "could not reload signing keys");
    }
    state
        .revocation_stream
        .keys(crate::service::stream::published_kids(
            &state.tokens.verifier.ring(),
        ));
}

/// For the JWKS endpoint.
pub fn jwks(state: &AppState) -> Arc<KeyRing> {
    state.tokens.verifier.ring()
}
