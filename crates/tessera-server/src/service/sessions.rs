//! Opening, checking and ending sessions.

use std::sync::Arc;

use serde_json::json;
use tessera_core::password::Verification;
use tessera_core::session::{ClientInfo, SessionLifetimes};
use tessera_core::throttle::ThrottleKey;
use tessera_core::types::Password;
use tessera_core::{
    Email, SecretToken, Session, SessionId, SessionKind, TokenHash, TokenKind, User, UserId,
};
use tessera_store::SharedSession;
use time::OffsetDateTime;

use crate::cache::CachedSession;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::service::revocation;
use crate::state::AppState;
use crate::throttle::{reserve_all, Ticket};

/// Checks a presented session secret: in-process cache first, then the shared cache (Redis,
/// when configured), then the store; expiry, lock and revocation applied to whatever answered;
/// activity recorded with coalesced writes. What the store or an activity write produced is
/// written to the shared cache for the other instances.
pub async fn authenticate(
    state: &AppState,
    secret: &SecretToken,
) -> Result<Option<Arc<CachedSession>>, ApiError> {
    let now = state.clock.now();
    let hash = secret.hash();
    let Some((mut entry, from_store)) = lookup(state, &hash, now).await? else {
        return Ok(None);
    };
    // The store found the row by this hash already; comparing again in constant time keeps the
    // guarantee even if a backend's index lookup were ever relaxed.
    if entry.session.secret_hash != hash {
        return Ok(None);
    }
    if !usable(state, &entry.session, entry.locked, now) {
        state.sessions.evict(entry.session.id);
        return Ok(None);
    }
    let mut changed = from_store;
    if let Some(touch) = state.lifetimes.touch(&entry.session, now) {
        if !state
            .store
            .touch_session(entry.session.id, touch.last_seen_at, touch.idle_expires_at)
            .await?
        {
            state.sessions.evict(entry.session.id);
            if let Some(shared) = &state.shared_sessions {
                shared.forget(&hash).await;
            }
            return Ok(None);
        }
        let mut session = entry.session.clone();
        touch.apply(&mut session);
        state.sessions.update(&session);
        entry = Arc::new(CachedSession {
            session,
            ..(*entry).clone()
        });
        changed = true;
    }
    if changed {
        // Keeps the shared copy's idle expiry in step with the store's.
        if let Some(shared) = &state.shared_sessions {
            shared.fill(&entry, now).await;
        }
    }
    Ok(Some(entry))
}

/// Finds the session for `hash`; the flag says whether the store answered.
async fn lookup(
    state: &AppState,
    hash: &TokenHash,
    now: OffsetDateTime,
) -> Result<Option<(Arc<CachedSession>, bool)>, ApiError> {
    if let Some(hit) = state.sessions.get(hash, now) {
        metrics::counter!("tessera_session_cache_total", "result" => "hit").increment(1);
        return Ok(Some((hit, false)));
    }
    if let Some(shared) = &state.shared_sessions {
        // A record the checks would refuse may just be stale (another instance moved the idle
        // expiry on); the store decides.
        let accept = |found: &SharedSession| usable(state, &found.session, found.locked, now);
        if let Some(found) = shared.lookup(hash, accept).await {
            metrics::counter!("tessera_session_cache_total", "result" => "shared_hit").increment(1);
            let entry = state
                .sessions
                .insert(found.session, found.email, found.locked, now);
            return Ok(Some((entry, false)));
        }
    }
    metrics::counter!("tessera_session_cache_total", "result" => "miss").increment(1);
    let Some(session) = state.store.session_by_secret_hash(hash).await? else {
        return Ok(None);
    };
    let Some(user) = state.store.user_by_id(session.user_id).await? else {
        return Ok(None);
    };
    let entry = state.sessions.insert(session, user.email, user.locked, now);
    Ok(Some((entry, true)))
}

/// Whether a check accepts this session now: not locked, not expired, not revoked — also when
/// the revocation is known only to this instance's revoked set so far.
fn usable(state: &AppState, session: &Session, locked: bool, now: OffsetDateTime) -> bool {
    !locked
        && SessionLifetimes::is_live(session, now)
        && !crate::service::tokens::is_revoked(state, session.id)
}

/// A successful login: the user and a brand-new session with its secret.
#[derive(Debug)]
pub struct Login {
    pub user: User,
    pub session: Session,
    pub secret: SecretToken,
}

/// Verifies credentials and opens a new session of `kind`. Every failure — unknown email, wrong
/// password, locked account, malformed input — is the same [`ApiError::InvalidGrant`] after the
/// same amount of hashing work.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    kind: SessionKind,
    caller: &Caller,
) -> Result<Login, ApiError> {
    let now = state.clock.now();
    let email = Email::parse(email).ok();
    let ip_key = ThrottleKey::ip(caller.ip);
    // An address that does not parse names no account; the per-address throttles still count.
    let account_key = email.as_ref().map(ThrottleKey::account);
    let ip_ticket = reserve_login(state, &ip_key, account_key.as_ref()).await?;

    let password = Password::for_login(password).ok();
    let user = match &email {
        Some(e) => state.store.user_by_email(e).await?,
        None => None,
    };
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    // Verification and, when the parameters changed, the rehash run in one blocking job: the
    // plaintext never leaves it.
    let (verification, new_hash) = state
        .hashing
        .run(move |hasher| {
            let presented =
                password.unwrap_or_else(|| Password::for_login("").expect("empty is short"));
            match stored_hash {
                Some(hash) => {
                    let v = hasher.verify(&presented, &hash);
                    let rehash = matches!(v, Verification::Valid { needs_rehash: true })
                        .then(|| hasher.hash(&presented));
                    (v, rehash)
                }
                None => (hasher.dummy_verify(&presented), None),
            }
        })
        .await?;

    let user = match (user, verification) {
        (Some(user), Verification::Valid { .. }) if !user.locked => {
            if let Some(hash) = new_hash {
                // Best effort: the login is valid either way, and the next one retries.
                if let Err(err) = state.store.set_password_hash(user.id, &hash, now).await {
                    tracing::warn!(error = %err, "could not store the upgraded password hash");
                }
            }
            user
        }
        (user, _) => {
            // The failure stays counted: it was counted before the hash ran.
            let reason = match &user {
                None => "unknown_account",
                Some(u) if u.locked => "locked",
                Some(_) => "wrong_password",
            };
            state
                .audit(
                    "login_failed",
                    user.as_ref().map(|u| u.id),
                    None,
                    Some(caller),
                    json!({ "reason": reason }),
                )
                .await;
            metrics::counter!("tessera_logins_total", "result" => "failed").increment(1);
            return Err(ApiError::InvalidGrant);
        }
    };
    state.throttles.login_per_ip.refund(ip_ticket).await;
    if let Some(account_key) = &account_key {
        state.throttles.login_per_account.reset(account_key).await;
    }

    let (session, secret) = open_session(state, user.id, kind, caller).await?;
    state
        .audit(
            "login_succeeded",
            Some(user.id),
            Some(session.id),
            Some(caller),
            json!({ "kind": kind.as_str() }),
        )
        .await;
    metrics::counter!("tessera_logins_total", "result" => "succeeded").increment(1);
    Ok(Login {
        user,
        session,
        secret,
    })
}

/// A new session with a fresh id and secret. Nothing the client sent is reused: that is the
/// session-fixation defence.
pub async fn open_session(
    state: &AppState,
    user_id: UserId,
    kind: SessionKind,
    caller: &Caller,
) -> Result<(Session, SecretToken), ApiError> {
    let now = state.clock.now();
    let secret = SecretToken::generate(TokenKind::Session);
    let client = ClientInfo::new(Some(caller.ip.to_string()), caller.user_agent.as_deref());
    let lifetimes = if kind == SessionKind::Token {
        &state.tokens.session_lifetimes
    } else {
        &state.lifetimes
    };
    let session = lifetimes.open(user_id, kind, secret.hash(), client, now);
    state.store.create_session(&session).await?;
    end_sessions_over_cap(state, user_id, session.id, caller).await?;
    Ok((session, secret))
}

/// `session.max_per_user`: when a new session puts the user over the cap, the oldest ones end
/// (by login time), through the normal revoke path so their tokens die and the feed carries it.
/// Bounds the sessions — and the work of listing them — one account can pile up.
/// Concurrent logins each end the oldest beyond the cap, so they agree on which ones go.
async fn end_sessions_over_cap(
    state: &AppState,
    user_id: UserId,
    new: SessionId,
    caller: &Caller,
) -> Result<(), ApiError> {
    let cap = state.config.session.max_per_user as usize;
    if cap == 0 {
        return Ok(());
    }
    let mut live = list_live(state, user_id).await?;
    if live.len() <= cap {
        return Ok(());
    }
    live.sort_by_key(|s| (s.created_at, s.id.0));
    let excess = live.len() - cap;
    for old in live.iter().filter(|s| s.id != new).take(excess) {
        revoke(state, old.id, user_id, "session_evicted", Some(caller)).await?;
    }
    Ok(())
}

/// Counts this login attempt on every login throttle before any hashing work, and refuses it
/// when one of them is full (see [`reserve_all`]). Returns the per-address failure ticket,
/// which a success refunds; the attempt itself (every attempt costs a hash) and the account's
/// failure (kept until a success resets the account) stay counted.
async fn reserve_login(
    state: &AppState,
    ip_key: &ThrottleKey,
    account_key: Option<&ThrottleKey>,
) -> Result<Ticket, ApiError> {
    let throttles = &state.throttles;
    let mut steps = vec![
        (&throttles.login_attempts_per_ip, ip_key),
        (&throttles.login_per_ip, ip_key),
    ];
    if let Some(account_key) = account_key {
        steps.push((&throttles.login_per_account, account_key));
    }
    let mut tickets = reserve_all(&steps, state.clock.as_ref())
        .await
        .map_err(rate_limited)?;
    Ok(tickets.swap_remove(1))
}

pub(crate) fn rate_limited(wait: time::Duration) -> ApiError {
    metrics::counter!("tessera_logins_total", "result" => "throttled").increment(1);
    crate::throttle::rate_limited(wait)
}

/// Ends one session and everything derived from it: its cached copy, its refresh tokens and the
/// access tokens that carry its id. Returns false if it was already ended.
pub async fn revoke(
    state: &AppState,
    session_id: SessionId,
    user_id: UserId,
    kind: &'static str,
    caller: Option<&Caller>,
) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let revoked = state.store.revoke_session(session_id, now).await?;
    state
        .store
        .revoke_refresh_of_session(session_id, now)
        .await?;
    revocation::apply_locally(state, session_id, now);
    revocation::publish(state, session_id, now).await;
    if revoked {
        state
            .audit(kind, Some(user_id), Some(session_id), caller, json!({}))
            .await;
    }
    Ok(revoked)
}

/// Replaces the caller's session `old` with a new one of the same kind: new id, new secret, the
/// old one ended through the normal revoke path (its refresh tokens and access tokens die with
/// it). The old one ends first, so the per-user session cap never counts both.
pub async fn rotate(
    state: &AppState,
    user_id: UserId,
    old: SessionId,
    kind: SessionKind,
    caller: &Caller,
) -> Result<(Session, SecretToken), ApiError> {
    revoke(state, old, user_id, "session_rotated", Some(caller)).await?;
    open_session(state, user_id, kind, caller).await
}

/// Ends the session whose cookie this browser sent along with a cookie login that has just
/// opened `replaced_by` (ASVS 7.2.4): the browser is about to overwrite that cookie, so the old
/// session would otherwise live on unseen. Only a secret that resolves to a live cookie session
/// counts; anything else the browser sent is ignored.
pub async fn end_replaced(
    state: &AppState,
    presented_cookie: Option<&str>,
    replaced_by: SessionId,
    caller: &Caller,
) -> Result<(), ApiError> {
    let Some(secret) = presented_cookie.and_then(|v| SecretToken::parse(TokenKind::Session, v))
    else {
        return Ok(());
    };
    let Some(entry) = authenticate(state, &secret).await? else {
        return Ok(());
    };
    let old = &entry.session;
    if old.kind != SessionKind::Cookie || old.id == replaced_by {
        return Ok(());
    }
    revoke(state, old.id, old.user_id, "session_replaced", Some(caller)).await?;
    Ok(())
}

/// Ends every session of `user` except `keep`.
pub async fn revoke_all(
    state: &AppState,
    user_id: UserId,
    keep: Option<SessionId>,
    caller: Option<&Caller>,
) -> Result<Vec<SessionId>, ApiError> {
    let now = state.clock.now();
    let ids = state
        .store
        .revoke_sessions_of_user(user_id, keep, now)
        .await?;
    for id in &ids {
        state.store.revoke_refresh_of_session(*id, now).await?;
        revocation::apply_locally(state, *id, now);
        revocation::publish(state, *id, now).await;
    }
    if !ids.is_empty() {
        state
            .audit(
                "session_revoked",
                Some(user_id),
                None,
                caller,
                json!({ "count": ids.len(), "kept": keep }),
            )
            .await;
    }
    Ok(ids)
}

/// Live sessions of a user, as the device list shows them.
pub async fn list_live(state: &AppState, user_id: UserId) -> Result<Vec<Session>, ApiError> {
    let now = state.clock.now();
    let sessions = state.store.live_sessions_of_user(user_id, now).await?;
    Ok(sessions
        .into_iter()
        .filter(|s| {
            SessionLifetimes::is_live(s, now) && !crate::service::tokens::is_revoked(state, s.id)
        })
        .collect())
}

/// A user's session by public id, only if it is theirs and live. Anything else is "not found",
/// so ids of other users' sessions cannot be probed.
pub async fn find_own(
    state: &AppState,
    user_id: UserId,
    id: SessionId,
) -> Result<Option<Session>, ApiError> {
    let now = state.clock.now();
    Ok(state
        .store
        .session_by_id(id)
        .await?
        .filter(|s| s.user_id == user_id && SessionLifetimes::is_live(s, now)))
}
