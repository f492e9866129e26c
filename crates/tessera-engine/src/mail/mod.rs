//! Mail: the durable outbox, its sender, the templates and the transport.
//!
//! A use case that wants a mail sent queues an intent in the store's outbox ([`enqueue`]) in
//! the request itself, so a crash after the answer loses nothing. The sender task
//! ([`sender::run`], one per instance, joined on shutdown) claims due rows under a lease —
//! several instances never send one row twice while the lease holds — creates the link token
//! the mail carries, renders the templates and hands the message to SMTP (or, with no SMTP
//! configured, to a directory). A failed attempt is retried with exponential backoff; an
//! SMTP server that is down only delays mail.

pub mod sender;
pub mod templates;
pub mod transport;

use lettre::message::Mailbox;
use tessera_core::{
    Email, EmailToken, EmailTokenPurpose, MailKind, OutboxMail, SecretToken, TokenKind, UserId,
};
use time::Duration;
use tokio::sync::Notify;

use crate::error::EngineResult;
use crate::settings::EmailSettings;
use crate::Engine;
use templates::Templates;
use transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error(transparent)]
    Transport(#[from] transport::TransportSetupError),
    #[error(transparent)]
    Templates(#[from] templates::TemplateError),
}

/// This instance's mail sender: transport, sender address, templates, and the bell that wakes
/// the sender task when this instance queues a mail.
#[derive(Debug)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    templates: Templates,
    wake: Notify,
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> Result<Self, MailSetupError> {
        let (transport, from) = Transport::new(settings)?;
        let templates = Templates::load(settings.templates_dir.as_deref())?;
        Ok(Self {
            transport,
            from,
            templates,
            wake: Notify::new(),
        })
    }

    /// `smtp` or `directory`.
    pub fn transport_name(&self) -> &'static str {
        self.transport.describe()
    }
}

/// Whether `text` is a mailbox (`Name <addr>` or `addr`) mail can be sent from.
pub fn valid_mailbox(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// Queues a mail in the store (durable once this returns) and wakes this instance's sender.
pub async fn enqueue(
    engine: &Engine,
    kind: MailKind,
    user_id: Option<UserId>,
    recipient: Email,
    other_email: Option<Email>,
) -> EngineResult<()> {
    let mail = OutboxMail::new(kind, user_id, recipient, other_email, engine.clock.now());
    engine.store.enqueue_mail(&mail).await?;
    metrics::counter!("tessera_mail_queued_total", "kind" => kind.as_str()).increment(1);
    engine.mailer.wake.notify_one();
    Ok(())
}

/// A new single-use link token for `purpose`, sent to `email`; every older unused link of the
/// same purpose of the user stops working (the store does both in one transaction).
pub(crate) async fn issue_link_token(
    engine: &Engine,
    user_id: UserId,
    purpose: EmailTokenPurpose,
    email: &Email,
    ttl: Duration,
) -> EngineResult<SecretToken> {
    let secret = SecretToken::generate(TokenKind::EmailLink);
    let now = engine.clock.now();
    let token = EmailToken {
        id: uuid::Uuid::new_v4(),
        user_id,
        purpose,
        token_hash: secret.hash(),
        email: email.clone(),
        created_at: now,
        expires_at: now + ttl,
        used_at: None,
    };
    engine.store.insert_email_token(&token).await?;
    Ok(secret)
}

/// `server.public_url` + `path`: links are never built from anything a request said.
pub(crate) fn link(engine: &Engine, path: &str, token: Option<&SecretToken>) -> String {
    let base = &engine.settings.email.public_url;
    match token {
        // base64url after a fixed prefix: nothing to escape.
        Some(token) => format!("{base}{path}?token={}", token.expose()),
        None => format!("{base}{path}"),
    }
}

/// A link token presented back to the server, parsed and found, if it is usable now for one
/// of `purposes`. Every reason for refusal is the same answer.
pub(crate) async fn find_link_token(
    engine: &Engine,
    presented: &str,
    purposes: &[EmailTokenPurpose],
) -> EngineResult<Option<EmailToken>> {
    let Some(secret) = SecretToken::parse(TokenKind::EmailLink, presented.trim()) else {
        return Ok(None);
    };
    let now = engine.clock.now();
    Ok(engine
        .store
        .email_token_by_hash(&secret.hash())
        .await?
        .filter(|t| purposes.contains(&t.purpose) && t.usable(now)))
}
