//! Accounts: sign-up and password change.

use serde_json::json;
use tessera_core::password::Verification;
use tessera_core::types::Password;
use tessera_core::{Email, User, UserId};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::service::sessions;
use crate::state::AppState;

/// Creates an account. The password is checked against the policy before any hashing work.
pub async fn create_user(
    state: &AppState,
    email: &str,
    password: &str,
    caller: Option<&Caller>,
) -> Result<User, ApiError> {
    let email = Email::parse(email)?;
    let password = Password::new(password, &state.policy)?;
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
    state.store.create_user(&user).await.map_err(|e| match e {
        tessera_core::StoreError::Conflict(_) => {
            ApiError::Conflict("an account with this email already exists")
        }
        other => other.into(),
    })?;
    state
        .audit("user_created", Some(user.id), None, caller, json!({}))
        .await;
    Ok(user)
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
    let new = Password::new(new, &state.policy)?;
    let current = Password::for_login(current)
        .map_err(|_| ApiError::Forbidden("current password is incorrect"))?;
    let account_key = format!("password-change:{user_id}");
    let now = state.clock.now();
    if let Err(wait) = state
        .throttles
        .per_account
        .check(&account_key, state.clock.as_ref())
        .await
    {
        return Err(sessions::rate_limited(wait));
    }
    let user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(ApiError::Unauthorized { bearer: false })?;
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
            .throttles
            .per_account
            .record_failure(&account_key, state.clock.as_ref())
            .await;
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
