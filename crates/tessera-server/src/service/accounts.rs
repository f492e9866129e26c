//! Accounts: sign-up and password change.

use serde_json::json;
use tessera_core::password::Verification;
use tessera_core::throttle::ThrottleKey;
use tessera_core::types::Password;
use tessera_core::{Email, SecretToken, Session, SessionKind, User, UserId};

use crate::auth::{AuthMethod, Principal};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::service::sessions;
use crate::service::tokens::{self, Grant};
use crate::state::AppState;
use crate::throttle::{rate_limited, reserve_all};

/// Creates an account. Sign-ups over the network are throttled per client address and for
/// everyone together, counted on every attempt; the password is checked against the policy,
/// and the address for a taken one (which the 409 answer reveals anyway), before any hashing
/// work.
pub async fn create_user(
    state: &AppState,
    email: &str,
    password: &str,
    caller: Option<&Caller>,
) -> Result<User, ApiError> {
    if let Some(caller) = caller {
        reserve_signup(state, caller).await?;
    }
    let email = Email::parse(email)?;
    let password = Password::new(password, &state.policy, &email)?;
    if state.store.user_by_email(&email).await?.is_some() {
        return Err(email_taken());
    }
    let hash = state
        .hashing
        .run_account_change(move |hasher| hasher.hash(&password))
        .await?;
    let now = state.clock.now();
    let user = User {
        id: UserId::random(),
        email,
        password_hash: hash,
        locked: false,
        created_at: now,
        updated_at: now,
    };
    // Two sign-ups of one address can both pass the look-up above; the store decides.
    state.store.create_user(&user).await.map_err(|e| match e {
        tessera_core::StoreError::Conflict(_) => email_taken(),
        other => other.into(),
    })?;
    state
        .audit("user_created", Some(user.id), None, caller, json!({}))
        .await;
    Ok(user)
}

fn email_taken() -> ApiError {
    ApiError::Conflict("an account with this email already exists")
}

/// Counts a sign-up attempt per address and globally (see [`reserve_all`]); an admitted
/// attempt is never refunded, since it may cost a hash.
async fn reserve_signup(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let throttles = &state.throttles;
    let (ip, everyone) = (ThrottleKey::ip(caller.ip), ThrottleKey::global());
    let steps = [
        (&throttles.signup_per_ip, &ip),
        (&throttles.signup_global, &everyone),
    ];
    reserve_all(&steps, state.clock.as_ref())
        .await
        .map(drop)
        .map_err(signup_throttled)
}

fn signup_throttled(wait: time::Duration) -> ApiError {
    metrics::counter!("tessera_signups_total", "result" => "throttled").increment(1);
    rate_limited(wait)
}

/// Changes the password after checking the current one, then ends every other session of the
/// user (and with them their refresh-token families and access tokens).
pub async fn change_password(
    state: &AppState,
    user_id: UserId,
    current_session: tessera_core::SessionId,
    current: &str,
    new: &str,
    caller: &Caller,
) -> Result<(), ApiError> {
    let user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(ApiError::Unauthorized { bearer: false })?;
    let new = Password::new(new, &state.policy, &user.email)?;
    let current = Password::for_login(current)
        .map_err(|_| ApiError::Forbidden("current password is incorrect"))?;
    let throttle_key = ThrottleKey::user(user_id);
    let now = state.clock.now();
    // Counted before the hash runs, so concurrent guesses cannot all pass; a success resets it.
    let _attempt = state
        .throttles
        .password_change
        .reserve(&throttle_key, state.clock.as_ref())
        .await
        .map_err(rate_limited)?;
    let stored = user.password_hash.clone();
    let new_hash = state
        .hashing
        .run_account_change(move |hasher| match hasher.verify(&current, &stored) {
            Verification::Valid { .. } => Some(hasher.hash(&new)),
            Verification::Invalid => None,
        })
        .await?;
    let Some(new_hash) = new_hash else {
        state
            .audit(
                "password_change_failed",
                Some(user_id),
                Some(current_session),
                Some(caller),
                json!({}),
            )
            .await;
        return Err(ApiError::Forbidden("current password is incorrect"));
    };
    state
        .store
        .set_password_hash(user_id, &new_hash, now)
        .await?;
    state.throttles.password_change.reset(&throttle_key).await;
    let revoked = sessions::revoke_all(state, user_id, Some(current_session), Some(caller)).await?;
    state
        .audit(
            "password_changed",
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
/// caller; whoever copied the old session secret or a token of it must not keep it.
pub async fn change_password_and_rotate(
    state: &AppState,
    caller_principal: &Principal,
    current: &str,
    new: &str,
    caller: &Caller,
) -> Result<Successor, ApiError> {
    let p = caller_principal;
    change_password(state, p.user_id, p.session_id, current, new, caller).await?;
    let kind = match p.method {
        AuthMethod::Cookie => SessionKind::Cookie,
        AuthMethod::SessionToken => SessionKind::Header,
        AuthMethod::AccessToken => SessionKind::Token,
    };
    let (session, secret) = sessions::rotate(state, p.user_id, p.session_id, kind, caller).await?;
    if kind != SessionKind::Token {
        return Ok(Successor::Session(session, secret));
    }
    let client_id = p.client_id.as_deref().unwrap_or(tokens::DEFAULT_CLIENT_ID);
    let grant = tokens::issue_grant(state, p.user_id, session.id, client_id).await?;
    Ok(Successor::Tokens(grant))
}

/// Locks or unlocks an account. Locking ends every session and with it every credential.
/// Returns how many sessions were ended.
pub async fn set_locked(
    state: &AppState,
    user_id: UserId,
    locked: bool,
    caller: Option<&Caller>,
) -> Result<usize, ApiError> {
    let now = state.clock.now();
    if !state.store.set_locked(user_id, locked, now).await? {
        return Err(ApiError::NotFound);
    }
    state.sessions.evict_user(user_id);
    let revoked = if locked {
        sessions::revoke_all(state, user_id, None, caller)
            .await?
            .len()
    } else {
        0
    };
    let kind = if locked {
        "user_locked"
    } else {
        "user_unlocked"
    };
    state
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
