//! Opening, checking and ending sessions.

use std::sync::Arc;

use serde_json::json;
use tessera_core::factor::ChallengePurpose;
use tessera_core::password::Verification;
use tessera_core::session::{Account, ClientInfo, SessionLifetimes, SessionRecord};
use tessera_core::throttle::ThrottleKey;
use tessera_core::types::Password;
use tessera_core::{
    Amr, Email, Scope, SecretToken, Session, SessionId, SessionKind, TokenKind, User, UserId,
};
use time::OffsetDateTime;

use crate::error::{EngineError, EngineResult};
use crate::session_cache::{CachedSession, Tier};
use crate::throttle::{reserve_all, Ticket};
use crate::{factors, revocation, tokens, AuditKind, Caller, Engine};

/// Checks a presented session secret through the session cache's tiers (see
/// [`crate::session_cache`]); the liveness verdict is applied to whatever tier answered, and
/// activity recorded with coalesced writes. What the store or an activity write produced is
/// written to the shared tier for the other instances.
pub async fn authenticate(
    engine: &Engine,
    secret: &SecretToken,
) -> EngineResult<Option<Arc<CachedSession>>> {
    let now = engine.clock.now();
    let hash = secret.hash();
    let accept = |record: &SessionRecord| live(engine, record, now);
    let Some((mut entry, tier)) = engine
        .sessions
        .lookup(engine.store.as_ref(), &hash, now, accept)
        .await?
    else {
        return Ok(None);
    };
    // The store found the row by this hash already; comparing again in constant time keeps the
    // guarantee even if a backend's index lookup were ever relaxed.
    if entry.session.secret_hash != hash {
        return Ok(None);
    }
    if !live(engine, &entry, now) {
        engine.sessions.evict_local(entry.session.id);
        return Ok(None);
    }
    let mut changed = tier == Tier::Store;
    if let Some(touch) = engine.settings.session_lifetimes.touch(&entry.session, now) {
        if !engine
            .store
            .touch_session(entry.session.id, touch.last_seen_at, touch.idle_expires_at)
            .await?
        {
            engine.sessions.forget(entry.session.id, &hash).await;
            return Ok(None);
        }
        let mut record = entry.record.clone();
        touch.apply(&mut record.session);
        engine.sessions.update(&record.session);
        entry = Arc::new(CachedSession {
            record,
            ..(*entry).clone()
        });
        changed = true;
    }
    if changed {
        // Keeps the shared copy's idle expiry in step with the store's.
        engine.sessions.fill_shared(&entry, now).await;
    }
    Ok(Some(entry))
}

/// The one liveness rule of a session check, with this instance's revoked set (which may know
/// of a revocation before the record shows it).
fn live(engine: &Engine, record: &SessionRecord, now: OffsetDateTime) -> bool {
    record
        .verdict(tokens::is_revoked(engine, record.session.id), now)
        .is_live()
}

/// A session by id and its user, if it is live now and its account is not locked: what a
/// refresh and an introspection accept.
pub async fn live_by_id(
    engine: &Engine,
    id: SessionId,
    now: OffsetDateTime,
) -> EngineResult<Option<(Session, User)>> {
    let Some(session) = engine.store.session_by_id(id).await? else {
        return Ok(None);
    };
    let Some(user) = engine.store.user_by_id(session.user_id).await? else {
        return Ok(None);
    };
    let verdict = SessionLifetimes::verdict(
        &session,
        Account::from_locked(user.locked),
        tokens::is_revoked(engine, id),
        now,
    );
    Ok(verdict.is_live().then_some((session, user)))
}

/// A successful login: the user and a brand-new session with its secret.
#[derive(Debug)]
pub struct Login {
    pub user: User,
    pub session: Session,
    pub secret: SecretToken,
}

/// Verifies credentials and opens a new session of `kind` (granted `scope`, for a token
/// session). Every failure — unknown email, wrong password, locked account, malformed input — is
/// the same [`EngineError::InvalidGrant`] after the same amount of hashing work. When the
/// account has a second factor, no session is opened: the answer is
/// [`EngineError::SecondFactorRequired`] with the pending step (see [`factors::challenge`]).
pub async fn login(
    engine: &Engine,
    email: &str,
    password: &str,
    kind: SessionKind,
    scope: Option<Scope>,
    caller: &Caller,
) -> Result<Login, EngineError> {
    let user = verify_password(engine, email, password, caller).await?;
    factors::challenge::require_if_enrolled(engine, &user, ChallengePurpose::Session, caller)
        .await?;
    open_login(engine, user, kind, scope, Authn::password(), caller).await
}

/// The first step of every login: the password. Returns the user when it is right and the
/// account may sign in; every failure is [`EngineError::InvalidGrant`] after the same hashing
/// work (or [`EngineError::Forbidden`] for an unverified address, told only once the password
/// was proven).
pub async fn verify_password(
    engine: &Engine,
    email: &str,
    password: &str,
    caller: &Caller,
) -> Result<User, EngineError> {
    let now = engine.clock.now();
    let email = Email::parse(email).ok();
    let ip_key = ThrottleKey::ip(caller.ip);
    // An address that does not parse names no account; the per-address throttles still count.
    let account_key = email.as_ref().map(ThrottleKey::account);
    let ip_ticket = reserve_login(engine, &ip_key, account_key.as_ref()).await?;

    let password = Password::for_login(password).ok();
    let user = match &email {
        Some(e) => engine.store.user_by_email(e).await?,
        None => None,
    };
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    // Verification and, when the parameters changed, the rehash run in one blocking job: the
    // plaintext never leaves it.
    let (verification, new_hash) = engine
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
                if let Err(err) = engine.store.set_password_hash(user.id, &hash, now).await {
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
            engine
                .audit(
                    AuditKind::LoginFailed,
                    user.as_ref().map(|u| u.id),
                    None,
                    Some(caller),
                    json!({ "reason": reason }),
                )
                .await;
            metrics::counter!("tessera_logins_total", "result" => "failed").increment(1);
            return Err(EngineError::InvalidGrant);
        }
    };
    engine.throttles.login_per_ip.refund(ip_ticket).await;
    if let Some(account_key) = &account_key {
        engine.throttles.login_per_account.reset(account_key).await;
    }
    if engine.settings.email.verification == crate::VerificationMode::RequiredBeforeLogin
        && user.email_verified_at.is_none()
    {
        // Told apart from a wrong password only after the password was proven.
        engine
            .audit(
                AuditKind::LoginFailed,
                Some(user.id),
                None,
                Some(caller),
                json!({ "reason": "email_not_verified" }),
            )
            .await;
        return Err(EngineError::Forbidden("email address not verified"));
    }
    Ok(user)
}

/// How a new session was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authn {
    pub amr: Amr,
    /// When a second factor was proven, if one was.
    pub factor_at: Option<OffsetDateTime>,
}

impl Authn {
    pub const fn password() -> Self {
        Self {
            amr: Amr::PASSWORD,
            factor_at: None,
        }
    }
}

/// The last step of every login: a new session for `user`, audited and counted.
pub async fn open_login(
    engine: &Engine,
    user: User,
    kind: SessionKind,
    scope: Option<Scope>,
    authn: Authn,
    caller: &Caller,
) -> Result<Login, EngineError> {
    let (session, secret) = open_session_as(engine, user.id, kind, scope, authn, caller).await?;
    engine
        .audit(
            AuditKind::LoginSucceeded,
            Some(user.id),
            Some(session.id),
            Some(caller),
            json!({ "kind": kind.as_str(), "amr": authn.amr.claim() }),
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
    engine: &Engine,
    user_id: UserId,
    kind: SessionKind,
    scope: Option<Scope>,
    caller: &Caller,
) -> Result<(Session, SecretToken), EngineError> {
    open_session_as(engine, user_id, kind, scope, Authn::password(), caller).await
}

/// [`open_session`], recording how the user authenticated.
pub async fn open_session_as(
    engine: &Engine,
    user_id: UserId,
    kind: SessionKind,
    scope: Option<Scope>,
    authn: Authn,
    caller: &Caller,
) -> Result<(Session, SecretToken), EngineError> {
    let now = engine.clock.now();
    let secret = SecretToken::generate(TokenKind::Session);
    let client = ClientInfo::new(Some(caller.ip.to_string()), caller.user_agent.as_deref());
    let lifetimes = if kind == SessionKind::Token {
        &engine.tokens.session_lifetimes
    } else {
        &engine.settings.session_lifetimes
    };
    let mut session = lifetimes.open(user_id, kind, secret.hash(), client, now);
    session.scope = scope;
    session.amr = authn.amr;
    session.factor_at = authn.factor_at;
    engine.store.create_session(&session).await?;
    end_sessions_over_cap(engine, user_id, session.id, caller).await?;
    Ok((session, secret))
}

/// `session.max_per_user`: when a new session puts the user over the cap, the oldest ones end
/// (by login time), through the normal revoke path so their tokens die and the feed carries it.
/// Bounds the sessions — and the work of listing them — one account can pile up.
/// Concurrent logins each end the oldest beyond the cap, so they agree on which ones go.
async fn end_sessions_over_cap(
    engine: &Engine,
    user_id: UserId,
    new: SessionId,
    caller: &Caller,
) -> Result<(), EngineError> {
    let cap = engine.settings.max_sessions_per_user as usize;
    if cap == 0 {
        return Ok(());
    }
    let mut live = list_live(engine, user_id).await?;
    if live.len() <= cap {
        return Ok(());
    }
    live.sort_by_key(|s| (s.created_at, s.id.0));
    let excess = live.len() - cap;
    for old in live.iter().filter(|s| s.id != new).take(excess) {
        revoke(
            engine,
            old.id,
            user_id,
            AuditKind::SessionEvicted,
            Some(caller),
        )
        .await?;
    }
    Ok(())
}

/// Counts this login attempt on every login throttle before any hashing work, and refuses it
/// when one of them is full (see [`reserve_all`]). Returns the per-address failure ticket,
/// which a success refunds; the attempt itself (every attempt costs a hash) and the account's
/// failure (kept until a success resets the account) stay counted.
async fn reserve_login(
    engine: &Engine,
    ip_key: &ThrottleKey,
    account_key: Option<&ThrottleKey>,
) -> Result<Ticket, EngineError> {
    let throttles = &engine.throttles;
    let mut steps = vec![
        (&throttles.login_attempts_per_ip, ip_key),
        (&throttles.login_per_ip, ip_key),
    ];
    if let Some(account_key) = account_key {
        steps.push((&throttles.login_per_account, account_key));
    }
    let mut tickets = reserve_all(&steps, engine.clock.as_ref())
        .await
        .map_err(rate_limited)?;
    Ok(tickets.swap_remove(1))
}

pub(crate) fn rate_limited(wait: time::Duration) -> EngineError {
    metrics::counter!("tessera_logins_total", "result" => "throttled").increment(1);
    EngineError::rate_limited(wait)
}

/// Ends one session and everything derived from it: its cached copy, its refresh tokens and the
/// access tokens that carry its id. Returns false if it was already ended.
pub async fn revoke(
    engine: &Engine,
    session_id: SessionId,
    user_id: UserId,
    kind: AuditKind,
    caller: Option<&Caller>,
) -> Result<bool, EngineError> {
    let now = engine.clock.now();
    let revoked = engine.store.revoke_session(session_id, now).await?;
    engine
        .store
        .revoke_refresh_of_session(session_id, now)
        .await?;
    revocation::apply_locally(engine, session_id, now);
    revocation::publish(engine, session_id, now).await;
    if revoked {
        engine
            .audit(kind, Some(user_id), Some(session_id), caller, json!({}))
            .await;
    }
    Ok(revoked)
}

/// Replaces the caller's session `old` with a new one of the same kind: new id, new secret, the
/// old one ended through the normal revoke path (its refresh tokens and access tokens die with
/// it). The old one ends first, so the per-user session cap never counts both. The new one keeps
/// the old one's scope (re-authenticating grants nothing new) and how it was authenticated.
pub async fn rotate(
    engine: &Engine,
    user_id: UserId,
    old: SessionId,
    kind: SessionKind,
    caller: &Caller,
) -> Result<(Session, SecretToken), EngineError> {
    let old_session = engine.store.session_by_id(old).await?;
    let scope = old_session.as_ref().and_then(|s| s.scope.clone());
    let authn = old_session.map_or(Authn::password(), |s| Authn {
        amr: s.amr,
        factor_at: s.factor_at,
    });
    revoke(
        engine,
        old,
        user_id,
        AuditKind::SessionRotated,
        Some(caller),
    )
    .await?;
    open_session_as(engine, user_id, kind, scope, authn, caller).await
}

/// Ends the session whose cookie this browser sent along with a cookie login that has just
/// opened `replaced_by` (ASVS 7.2.4): the browser is about to overwrite that cookie, so the old
/// session would otherwise live on unseen. Only a secret that resolves to a live cookie session
/// counts; anything else the browser sent is ignored.
pub async fn end_replaced(
    engine: &Engine,
    presented_cookie: Option<&str>,
    replaced_by: SessionId,
    caller: &Caller,
) -> Result<(), EngineError> {
    let Some(secret) = presented_cookie.and_then(|v| SecretToken::parse(TokenKind::Session, v))
    else {
        return Ok(());
    };
    let Some(entry) = authenticate(engine, &secret).await? else {
        return Ok(());
    };
    let old = &entry.session;
    if old.kind != SessionKind::Cookie || old.id == replaced_by {
        return Ok(());
    }
    revoke(
        engine,
        old.id,
        old.user_id,
        AuditKind::SessionReplaced,
        Some(caller),
    )
    .await?;
    Ok(())
}

/// Ends every session of `user` except `keep`.
pub async fn revoke_all(
    engine: &Engine,
    user_id: UserId,
    keep: Option<SessionId>,
    caller: Option<&Caller>,
) -> Result<Vec<SessionId>, EngineError> {
    let now = engine.clock.now();
    let ids = engine
        .store
        .revoke_sessions_of_user(user_id, keep, now)
        .await?;
    for id in &ids {
        engine.store.revoke_refresh_of_session(*id, now).await?;
        revocation::apply_locally(engine, *id, now);
        revocation::publish(engine, *id, now).await;
    }
    if !ids.is_empty() {
        engine
            .audit(
                AuditKind::SessionRevoked,
                Some(user_id),
                None,
                caller,
                json!({ "count": ids.len(), "kept": keep }),
            )
            .await;
    }
    Ok(ids)
}

/// "Sign out everywhere else": every session of the caller but the current one. A sensitive
/// action: with a second factor it needs a recent step-up.
pub async fn end_others(
    engine: &Engine,
    p: &crate::Principal,
    caller: &Caller,
) -> Result<Vec<SessionId>, EngineError> {
    factors::require_step_up(engine, p).await?;
    revoke_all(engine, p.user_id, Some(p.session_id), Some(caller)).await
}

/// Live sessions of a user, as the device list shows them.
pub async fn list_live(engine: &Engine, user_id: UserId) -> Result<Vec<Session>, EngineError> {
    let now = engine.clock.now();
    let sessions = engine.store.live_sessions_of_user(user_id, now).await?;
    Ok(sessions
        .into_iter()
        .filter(|s| own_session_live(engine, s, now))
        .collect())
}

/// A user's session by public id, only if it is theirs and live. Anything else is "not found",
/// so ids of other users' sessions cannot be probed.
pub async fn find_own(
    engine: &Engine,
    user_id: UserId,
    id: SessionId,
) -> Result<Option<Session>, EngineError> {
    let now = engine.clock.now();
    Ok(engine
        .store
        .session_by_id(id)
        .await?
        .filter(|s| s.user_id == user_id && own_session_live(engine, s, now)))
}

/// The verdict for a session its (signed-in, so not locked) owner asks about.
fn own_session_live(engine: &Engine, session: &Session, now: OffsetDateTime) -> bool {
    let revoked = tokens::is_revoked(engine, session.id);
    SessionLifetimes::verdict(session, Account::Active, revoked, now).is_live()
}
