//! Password reset by a link sent to the account's address.
//!
//! The request answers the same whether or not the address has an account, after the same work:
//! both throttles count, one outbox row is written, and nothing is looked up — the sender
//! decides later whether there is anyone to mail. The link's token is single-use, stored as a
//! hash, short-lived, and dies with a newer request, a password change or a change of address.
//! Using it ends every session of the account, and with them every refresh token and access
//! token.

use serde_json::json;
use tessera_core::throttle::ThrottleKey;
use tessera_core::types::Password;
use tessera_core::{Email, EmailTokenPurpose, MailKind, UserId};

use crate::error::{EngineError, EngineResult};
use crate::mail::{self, find_link_token};
use crate::throttle::reserve_all;
use crate::{sessions, AuditKind, Caller, Engine};

/// The one answer to a link that cannot be used, whatever the reason (unknown, used,
/// superseded, expired, the account changed address or was locked).
pub fn invalid_link() -> EngineError {
    EngineError::Invalid("this link is invalid, was already used or has expired".into())
}

/// Asks for a reset link for `email`. Succeeds whether or not the address has an account.
pub async fn request_password_reset(
    engine: &Engine,
    email: &str,
    caller: &Caller,
) -> EngineResult<()> {
    let email = Email::parse(email)?;
    let throttles = &engine.throttles;
    let (ip, account) = (ThrottleKey::ip(caller.ip), ThrottleKey::account(&email));
    let steps = [
        (&throttles.password_reset_per_ip, &ip),
        (&throttles.password_reset_per_account, &account),
    ];
    reserve_all(&steps, engine.clock.as_ref())
        .await
        .map_err(EngineError::rate_limited)?;
    mail::enqueue(engine, MailKind::PasswordReset, None, email, None).await
}

/// Sets a new password with a reset link's token, then ends every session of the account.
/// A new password that breaks the policy leaves the link usable.
pub async fn reset_password(
    engine: &Engine,
    token: &str,
    new_password: &str,
    caller: &Caller,
) -> EngineResult<UserId> {
    let record = find_link_token(engine, token, &[EmailTokenPurpose::Reset])
        .await?
        .ok_or_else(invalid_link)?;
    let user = engine
        .store
        .user_by_id(record.user_id)
        .await?
        .filter(|u| u.email == record.email && !u.locked)
        .ok_or_else(invalid_link)?;
    let password = Password::new(new_password, &engine.settings.password_policy, &user.email)?;
    let hash = engine
        .hashing
        .run_account_change(move |hasher| hasher.hash(&password))
        .await?;
    let now = engine.clock.now();
    // The conditional spend decides between concurrent uses of one link.
    if !engine.store.spend_email_token(record.id, now).await? {
        return Err(invalid_link());
    }
    engine.store.set_password_hash(user.id, &hash, now).await?;
    engine
        .store
        .invalidate_email_tokens(user.id, Some(EmailTokenPurpose::Reset), now)
        .await?;
    // The link reached the address: that proves it, as a verification link would.
    engine
        .store
        .set_email_verified(user.id, &user.email, now)
        .await?;
    let revoked = sessions::revoke_all(engine, user.id, None, Some(caller)).await?;
    engine
        .throttles
        .login_per_account
        .reset(&ThrottleKey::account(&user.email))
        .await;
    engine
        .audit(
            AuditKind::PasswordReset,
            Some(user.id),
            None,
            Some(caller),
            json!({ "sessions_revoked": revoked.len() }),
        )
        .await;
    Ok(user.id)
}
