//! The background sender: claims due outbox rows, turns each into a message and sends it.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde_json::json;
use tessera_core::mail::retry_delay;
use tessera_core::{EmailTokenPurpose, MailKind, OutboxMail, StoreError, User};
use time::Duration;
use tokio_util::sync::CancellationToken;

use super::templates::{MailContext, Rendered};
use super::transport::SendError;
use super::{issue_link_token, link};
use crate::{AuditKind, Engine, EngineError};

/// Rows claimed at once. Small: a claimed row waits for the ones before it.
const BATCH: u32 = 10;

/// Sends due mail until told to stop: at every poll interval, and at once when this instance
/// queues a mail.
pub async fn run(engine: Arc<Engine>, stop: CancellationToken) {
    let every = engine.settings.email.poll_interval.unsigned_abs();
    let every = every.max(StdDuration::from_millis(10));
    loop {
        loop {
            match send_due(&engine, &stop).await {
                Ok(n) if n == BATCH as usize && !stop.is_cancelled() => {}
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %crate::error::chain(&err), "mail outbox unavailable");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = engine.mailer.wake.notified() => {}
            () = stop.cancelled() => return,
        }
    }
}

/// How long a claimed row is left to this instance: longer than one SMTP conversation per row
/// of a batch can take, so a live sender never loses its lease mid-batch.
fn lease(engine: &Engine) -> Duration {
    engine.settings.email.timeout * (2 * BATCH as i32) + Duration::seconds(30)
}

/// One claim and the attempts on what it got. Returns how many rows were claimed.
async fn send_due(engine: &Engine, stop: &CancellationToken) -> Result<usize, StoreError> {
    let now = engine.clock.now();
    let claimed = engine
        .store
        .claim_mail(now, now + lease(engine), BATCH)
        .await?;
    let n = claimed.len();
    for mail in claimed {
        if stop.is_cancelled() {
            // The lease runs out and another instance (or the next start) takes it over.
            break;
        }
        attempt(engine, mail).await;
    }
    Ok(n)
}

async fn attempt(engine: &Engine, mail: OutboxMail) {
    let kind = mail.kind.as_str();
    let outcome = match prepare(engine, &mail).await {
        Ok(Some(rendered)) => engine
            .mailer
            .transport
            .send(&engine.mailer.from, mail.recipient.as_str(), rendered, kind)
            .await
            .map(|()| true),
        Ok(None) => Ok(false),
        Err(err) => Err(err),
    };
    let now = engine.clock.now();
    let settings = &engine.settings.email;
    let recorded = match outcome {
        Ok(sent) => {
            let result = if sent { "sent" } else { "not_needed" };
            metrics::counter!("tessera_mail_total", "kind" => kind, "result" => result)
                .increment(1);
            if sent {
                tracing::info!(kind, mail = %mail.id, attempts = mail.attempts, "mail sent");
            }
            engine.store.finish_mail(mail.id).await
        }
        Err(err) if err.permanent || mail.attempts >= settings.max_attempts => {
            metrics::counter!("tessera_mail_total", "kind" => kind, "result" => "failed")
                .increment(1);
            tracing::warn!(kind, mail = %mail.id, attempts = mail.attempts, error = %err.text, "mail given up on");
            engine
                .audit(
                    AuditKind::MailFailed,
                    mail.user_id,
                    None,
                    None,
                    json!({ "kind": kind, "attempts": mail.attempts }),
                )
                .await;
            engine.store.fail_mail(mail.id, now, &err.text).await
        }
        Err(err) => {
            metrics::counter!("tessera_mail_total", "kind" => kind, "result" => "retry")
                .increment(1);
            let wait = retry_delay(mail.attempts, settings.retry_base, settings.retry_max);
            tracing::warn!(kind, mail = %mail.id, attempts = mail.attempts, retry_in_s = wait.whole_seconds(), error = %err.text, "mail not sent; will retry");
            engine
                .store
                .retry_mail(mail.id, now + wait, &err.text)
                .await
        }
    };
    if let Err(err) = recorded {
        // The lease runs out and the row is tried again: at worst a mail goes out twice.
        tracing::warn!(kind, mail = %mail.id, error = %err, "could not record a mail attempt");
    }
}

/// The message for `mail`, or `None` when it is no longer needed (no such account, address
/// changed, already verified). Link tokens are created here, at sending time, so the store
/// never holds a raw token; a retry creates a new one, which supersedes the undelivered one.
async fn prepare(engine: &Engine, mail: &OutboxMail) -> Result<Option<Rendered>, SendError> {
    let settings = &engine.settings.email;
    let store = &engine.store;
    let to = &mail.recipient;
    let (path, token_for, ttl) = match mail.kind {
        MailKind::PasswordReset => ("/reset", Some(EmailTokenPurpose::Reset), settings.reset_ttl),
        MailKind::VerifyEmail => (
            "/verify",
            Some(EmailTokenPurpose::Verify),
            settings.verify_ttl,
        ),
        MailKind::EmailChangeConfirm => (
            "/verify",
            Some(EmailTokenPurpose::ChangeEmail),
            settings.change_ttl,
        ),
        MailKind::EmailChanged | MailKind::SignupExists => ("/forgot", None, Duration::ZERO),
    };
    let user: Option<User> = match mail.kind {
        // Named by address only: the request did not look the account up.
        MailKind::PasswordReset | MailKind::VerifyEmail => {
            store.user_by_email(to).await.map_err(|e| transient(&e))?
        }
        _ => match mail.user_id {
            Some(id) => store.user_by_id(id).await.map_err(|e| transient(&e))?,
            None => None,
        },
    };
    let needed = user.as_ref().filter(|u| match mail.kind {
        MailKind::PasswordReset => !u.locked,
        MailKind::VerifyEmail => {
            u.email_verified_at.is_none() && mail.user_id.is_none_or(|id| id == u.id)
        }
        MailKind::EmailChangeConfirm => u.email != *to,
        MailKind::EmailChanged | MailKind::SignupExists => true,
    });
    let Some(user) = needed else {
        return Ok(None);
    };
    let token = match token_for {
        Some(purpose) => Some(
            issue_link_token(engine, user.id, purpose, to, ttl)
                .await
                .map_err(|e| transient_engine(&e))?,
        ),
        None => None,
    };
    if mail.kind == MailKind::PasswordReset {
        engine
            .audit(
                AuditKind::PasswordResetRequested,
                Some(user.id),
                None,
                None,
                json!({}),
            )
            .await;
    }
    let link = link(engine, path, token.as_ref());
    let context = MailContext {
        product_name: &settings.product_name,
        public_url: &settings.public_url,
        email: to.as_str(),
        new_email: mail.other_email.as_ref().map(tessera_core::Email::as_str),
        link: &link,
        expires_minutes: ttl.whole_minutes(),
    };
    engine
        .mailer
        .templates
        .render(mail.kind, &context)
        .map(Some)
        .map_err(|e| SendError {
            permanent: true,
            text: e.to_string(),
        })
}

fn transient(err: &StoreError) -> SendError {
    SendError {
        permanent: false,
        text: err.to_string(),
    }
}

fn transient_engine(err: &EngineError) -> SendError {
    SendError {
        permanent: false,
        text: crate::error::chain(err),
    }
}
