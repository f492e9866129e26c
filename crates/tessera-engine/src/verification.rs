//! Proving an address: the verification link sent at sign-up (and again on request), and the
//! change of address, confirmed by a link sent to the new address after the current password
//! was checked, with a notice to the old address once it happened.

use serde_json::json;
use tessera_core::password::Verification;
use tessera_core::throttle::ThrottleKey;
use tessera_core::types::Password;
use tessera_core::{Email, EmailTokenPurpose, MailKind, SessionId, StoreError, UserId};

use crate::error::{EngineError, EngineResult};
use crate::mail::{self, find_link_token};
use crate::recovery::invalid_link;
use crate::settings::VerificationMode;
use crate::{AuditKind, Caller, Engine};

/// What a link from `/verify` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The account's address is now verified.
    Verified(Email),
    /// The account moved to this address.
    EmailChanged(Email),
}

/// Queues the verification mail of a new account, unless verification is off.
pub async fn send_verification(
    engine: &Engine,
    user_id: UserId,
    email: &Email,
) -> EngineResult<()> {
    if engine.settings.email.verification == VerificationMode::Off {
        return Ok(());
    }
    mail::enqueue(
        engine,
        MailKind::VerifyEmail,
        Some(user_id),
        email.clone(),
        None,
    )
    .await
}

/// Asks for the verification mail again. Answers the same whether or not the address has an
/// unverified account (the sender decides), and counts per address and per client address.
pub async fn resend_verification(
    engine: &Engine,
    email: &str,
    caller: &Caller,
) -> EngineResult<()> {
    let email = Email::parse(email)?;
    if engine.settings.email.verification == VerificationMode::Off {
        return Ok(());
    }
    let throttles = &engine.throttles;
    let (ip, account) = (ThrottleKey::ip(caller.ip), ThrottleKey::account(&email));
    let steps = [
        (&throttles.password_reset_per_ip, &ip),
        (&throttles.verification_resend, &account),
    ];
    crate::throttle::reserve_all(&steps, engine.clock.as_ref())
        .await
        .map_err(EngineError::rate_limited)?;
    mail::enqueue(engine, MailKind::VerifyEmail, None, email, None).await
}

/// Uses a verification or change-of-address link.
pub async fn confirm(engine: &Engine, token: &str, caller: &Caller) -> EngineResult<Confirmed> {
    let record = find_link_token(
        engine,
        token,
        &[EmailTokenPurpose::Verify, EmailTokenPurpose::ChangeEmail],
    )
    .await?
    .ok_or_else(invalid_link)?;
    let user = engine
        .store
        .user_by_id(record.user_id)
        .await?
        .filter(|u| !u.locked)
        .ok_or_else(invalid_link)?;
    let now = engine.clock.now();
    match record.purpose {
        EmailTokenPurpose::ChangeEmail => {
            if !engine.store.spend_email_token(record.id, now).await? {
                return Err(invalid_link());
            }
            let moved = engine
                .store
                .set_email(user.id, &record.email, now)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => {
                        EngineError::Conflict("an account with this email already exists")
                    }
                    other => other.into(),
                })?;
            if !moved {
                return Err(invalid_link());
            }
            // Links sent to the old address (a reset, a verification) must not outlive it.
            engine
                .store
                .invalidate_email_tokens(user.id, None, now)
                .await?;
            engine.sessions.evict_user_local(user.id);
            mail::enqueue(
                engine,
                MailKind::EmailChanged,
                Some(user.id),
                user.email.clone(),
                Some(record.email.clone()),
            )
            .await?;
            engine
                .audit(
                    AuditKind::EmailChanged,
                    Some(user.id),
                    None,
                    Some(caller),
                    json!({}),
                )
                .await;
            Ok(Confirmed::EmailChanged(record.email))
        }
        EmailTokenPurpose::Verify | EmailTokenPurpose::Reset => {
            if user.email != record.email
                || !engine.store.spend_email_token(record.id, now).await?
                || !engine
                    .store
                    .set_email_verified(user.id, &record.email, now)
                    .await?
            {
                return Err(invalid_link());
            }
            engine
                .audit(
                    AuditKind::EmailVerified,
                    Some(user.id),
                    None,
                    Some(caller),
                    json!({}),
                )
                .await;
            Ok(Confirmed::Verified(record.email))
        }
    }
}

/// Asks to move the signed-in user's account to `new_email`: the current password is checked
/// (a fresh factor: a stolen session alone cannot take the account over by moving its
/// address), then a confirmation link goes to the new address. Whether the new address is
/// taken is only found out when the link is used, so this cannot probe for accounts.
pub async fn request_email_change(
    engine: &Engine,
    user_id: UserId,
    session_id: SessionId,
    new_email: &str,
    current_password: &str,
    caller: &Caller,
) -> EngineResult<()> {
    let user = engine
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(EngineError::Unauthenticated)?;
    let new_email = Email::parse(new_email)?;
    if new_email == user.email {
        return Err(EngineError::Invalid(
            "the new address is the current one".into(),
        ));
    }
    let current = Password::for_login(current_password)
        .map_err(|_| EngineError::Forbidden("current password is incorrect"))?;
    let _attempt = engine
        .throttles
        .email_change
        .reserve(&ThrottleKey::user(user_id), engine.clock.as_ref())
        .await
        .map_err(EngineError::rate_limited)?;
    let stored = user.password_hash.clone();
    let valid = engine
        .hashing
        .run_account_change(move |hasher| {
            matches!(hasher.verify(&current, &stored), Verification::Valid { .. })
        })
        .await?;
    if !valid {
        engine
            .audit(
                AuditKind::PasswordChangeFailed,
                Some(user_id),
                Some(session_id),
                Some(caller),
                json!({ "during": "email_change" }),
            )
            .await;
        return Err(EngineError::Forbidden("current password is incorrect"));
    }
    mail::enqueue(
        engine,
        MailKind::EmailChangeConfirm,
        Some(user_id),
        new_email,
        Some(user.email.clone()),
    )
    .await?;
    engine
        .audit(
            AuditKind::EmailChangeRequested,
            Some(user_id),
            Some(session_id),
            Some(caller),
            json!({}),
        )
        .await;
    Ok(())
}
