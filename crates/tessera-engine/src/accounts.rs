//! Accounts: sign-up and password change.

use serde_json::json;
use tessera_core::password::Verification;
use tessera_core::throttle::ThrottleKey;
use tessera_core::types::Password;
use tessera_core::{
    Email, EmailTokenPurpose, MailKind, SecretToken, Session, SessionKind, User, UserId,
};

use crate::error::EngineError;
use crate::grants::{self, Grant};
use crate::throttle::reserve_all;
use crate::{sessions, AuditKind, Caller, Engine, Principal};

/// What a sign-up answers.
#[derive(Debug)]
pub enum SignUp {
    /// The account exists now (the ordinary sign-up; `signup.enumeration_safe` off).
    Created(User),
    /// Enumeration-safe sign-up: the same answer for a new and a taken address. A new account
    /// was created and mailed a verification link, or the owner of the taken address was told
    /// someone tried to register it.
    Accepted,
}

/// A sign-up over the network: [`create_user`], or with `signup.enumeration_safe` the same
/// answer and the same work (throttles, policy, one password hash) for a taken address.
pub async fn sign_up(
    engine: &Engine,
    email: &str,
    password: &str,
    caller: &Caller,
) -> Result<SignUp, EngineError> {
    if !engine.settings.email.enumeration_safe {
        return create_user(engine, email, password, Some(caller))
            .await
            .map(SignUp::Created);
    }
    reserve_signup(engine, caller).await?;
    let email = Email::parse(email)?;
    let password = Password::new(password, &engine.settings.password_policy, &email)?;
    let existing = engine.store.user_by_email(&email).await?;
    let hash = engine
        .hashing
        .run_account_change(move |hasher| hasher.hash(&password))
        .await?;
    let owner = match existing {
        Some(owner) => Some(owner.id),
        None => match insert_user(engine, email.clone(), hash, Some(caller)).await {
            Ok(_) => None,
            Err(EngineError::Conflict(_)) => {
                engine.store.user_by_email(&email).await?.map(|u| u.id)
            }
            Err(other) => return Err(other),
        },
    };
    if let Some(owner) = owner {
        crate::mail::enqueue(engine, MailKind::SignupExists, Some(owner), email, None).await?;
    }
    Ok(SignUp::Accepted)
}

/// Creates an account. Sign-ups over the network are throttled per client address and for
/// everyone together, counted on every attempt; the password is checked against the policy,
/// and the address for a taken one (which the 409 answer reveals anyway), before any hashing
/// work. An account made on the server itself (`caller` is `None`: the CLI) counts as
/// verified; one made over the network is sent a verification link unless that is off.
pub async fn create_user(
    engine: &Engine,
    email: &str,
    password: &str,
    caller: Option<&Caller>,
) -> Result<User, EngineError> {
    if let Some(caller) = caller {
        reserve_signup(engine, caller).await?;
    }
    let email = Email::parse(email)?;
    let password = Password::new(password, &engine.settings.password_policy, &email)?;
    if engine.store.user_by_email(&email).await?.is_some() {
        return Err(email_taken());
    }
    let hash = engine
        .hashing
        .run_account_change(move |hasher| hasher.hash(&password))
        .await?;
    insert_user(engine, email, hash, caller).await
}

/// Stores a new account with its password hash, audits it and, for a network sign-up, queues
/// the verification mail.
async fn insert_user(
    engine: &Engine,
    email: Email,
    hash: String,
    caller: Option<&Caller>,
) -> Result<User, EngineError> {
    let now = engine.clock.now();
    let user = User {
        id: UserId::random(),
        email,
        password_hash: hash,
        locked: false,
        email_verified_at: caller.is_none().then_some(now),
        roles: tessera_core::Roles::default(),
        claims: tessera_core::CustomClaims::default(),
        created_at: now,
        updated_at: now,
    };
    // Two sign-ups of one address can both pass the look-up above; the store decides.
    engine.store.create_user(&user).await.map_err(|e| match e {
        tessera_core::StoreError::Conflict(_) => email_taken(),
        other => other.into(),
    })?;
    engine
        .audit(
            AuditKind::UserCreated,
            Some(user.id),
            None,
            caller,
            json!({}),
        )
        .await;
    if caller.is_some() {
        crate::verification::send_verification(engine, user.id, &user.email).await?;
    }
    Ok(user)
}

fn email_taken() -> EngineError {
    EngineError::Conflict("an account with this email already exists")
}

/// Counts a sign-up attempt per address and globally (see [`reserve_all`]); an admitted
/// attempt is never refunded, since it may cost a hash.
async fn reserve_signup(engine: &Engine, caller: &Caller) -> Result<(), EngineError> {
    let throttles = &engine.throttles;
    let (ip, everyone) = (ThrottleKey::ip(caller.ip), ThrottleKey::global());
    let steps = [
        (&throttles.signup_per_ip, &ip),
        (&throttles.signup_global, &everyone),
    ];
    reserve_all(&steps, engine.clock.as_ref())
        .await
        .map(drop)
        .map_err(signup_throttled)
}

fn signup_throttled(wait: time::Duration) -> EngineError {
    metrics::counter!("tessera_signups_total", "result" => "throttled").increment(1);
    EngineError::rate_limited(wait)
}

/// Changes the password after checking the current one, then ends every other session of the
/// user (and with them their refresh-token families and access tokens).
pub async fn change_password(
    engine: &Engine,
    user_id: UserId,
    current_session: tessera_core::SessionId,
    current: &str,
    new: &str,
    caller: &Caller,
) -> Result<(), EngineError> {
    let user = engine
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(EngineError::Unauthenticated)?;
    let new = Password::new(new, &engine.settings.password_policy, &user.email)?;
    let current = Password::for_login(current)
        .map_err(|_| EngineError::Forbidden("current password is incorrect"))?;
    let throttle_key = ThrottleKey::user(user_id);
    let now = engine.clock.now();
    // Counted before the hash runs, so concurrent guesses cannot all pass; a success resets it.
    let _attempt = engine
        .throttles
        .password_change
        .reserve(&throttle_key, engine.clock.as_ref())
        .await
        .map_err(EngineError::rate_limited)?;
    let stored = user.password_hash.clone();
    let new_hash = engine
        .hashing
        .run_account_change(move |hasher| match hasher.verify(&current, &stored) {
            Verification::Valid { .. } => Some(hasher.hash(&new)),
            Verification::Invalid => None,
        })
        .await?;
    let Some(new_hash) = new_hash else {
        engine
            .audit(
                AuditKind::PasswordChangeFailed,
                Some(user_id),
                Some(current_session),
                Some(caller),
                json!({}),
            )
            .await;
        return Err(EngineError::Forbidden("current password is incorrect"));
    };
    engine
        .store
        .set_password_hash(user_id, &new_hash, now)
        .await?;
    engine.throttles.password_change.reset(&throttle_key).await;
    // A reset link asked for before the change must not undo it.
    engine
        .store
        .invalidate_email_tokens(user_id, Some(EmailTokenPurpose::Reset), now)
        .await?;
    let revoked =
        sessions::revoke_all(engine, user_id, Some(current_session), Some(caller)).await?;
    engine
        .audit(
            AuditKind::PasswordChanged,
            Some(user_id),
            Some(current_session),
            Some(caller),
            json!({ "sessions_revoked": revoked.len() }),
        )
        .await;
    Ok(())
}

/// The caller's new credential after a password change.
#[derive(Debug)]
pub enum Successor {
    /// A cookie or `tss_` session: the new session and its secret.
    Session(Session, SecretToken),
    /// A token session: a new refresh family and access token for the new session.
    Tokens(Grant),
}

/// A password change by an authenticated caller: [`change_password`], then the caller's own
/// session is rotated (new id, new secret, old one ended). The change re-authenticated the
/// caller; whoever copied the old session secret or a token of it must not keep it. When the
/// user has a second factor, the change also needs a recent step-up
/// ([`crate::factors::require_step_up`]).
pub async fn change_password_and_rotate(
    engine: &Engine,
    caller_principal: &Principal,
    current: &str,
    new: &str,
    caller: &Caller,
) -> Result<Successor, EngineError> {
    let p = caller_principal;
    crate::factors::require_step_up(engine, p).await?;
    change_password(engine, p.user_id, p.session_id, current, new, caller).await?;
    let kind = p.method.session_kind();
    let (session, secret) = sessions::rotate(engine, p.user_id, p.session_id, kind, caller).await?;
    if kind != SessionKind::Token {
        return Ok(Successor::Session(session, secret));
    }
    let client_id = p.client_id.as_deref().unwrap_or(grants::DEFAULT_CLIENT_ID);
    let user = crate::authz::user(engine, p.user_id).await?;
    let grant = grants::issue_for_new_session(engine, &user, &session, client_id).await?;
    Ok(Successor::Tokens(grant))
}

/// Locks or unlocks an account. Locking ends every session and with it every credential.
/// Returns how many sessions were ended.
pub async fn set_locked(
    engine: &Engine,
    user_id: UserId,
    locked: bool,
    caller: Option<&Caller>,
) -> Result<usize, EngineError> {
    let now = engine.clock.now();
    if !engine.store.set_locked(user_id, locked, now).await? {
        return Err(EngineError::NotFound);
    }
    engine.sessions.evict_user_local(user_id);
    let revoked = if locked {
        sessions::revoke_all(engine, user_id, None, caller)
            .await?
            .len()
    } else {
        0
    };
    let kind = if locked {
        AuditKind::UserLocked
    } else {
        AuditKind::UserUnlocked
    };
    engine
        .audit(
            kind,
            Some(user_id),
            None,
            caller,
            json!({ "sessions_revoked": revoked }),
        )
        .await;
    Ok(revoked)
}

/// The account with this address, if any (for operators: the CLI names users by address).
pub async fn find_by_email(engine: &Engine, email: &str) -> Result<Option<User>, EngineError> {
    let email = Email::parse(email)?;
    Ok(engine.store.user_by_email(&email).await?)
}
