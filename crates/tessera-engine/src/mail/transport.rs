//! Where rendered mails go: an SMTP server (lettre over rustls), or — with no SMTP configured,
//! the zero-configuration default — a directory of `.eml` files readable only by the owner,
//! with one log line per mail that names the file but never the link in it.

use std::io::Write as _;
use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;

use super::templates::Rendered;
use crate::settings::EmailSettings;

#[derive(Debug, thiserror::Error)]
pub enum TransportSetupError {
    #[error("email.smtp_url is not a valid SMTP URL (smtp://, smtps://, smtp://…?tls=required)")]
    SmtpUrl,
    #[error("email.from is not a mailbox like `Name <address@example.com>`")]
    From,
}

/// A failed attempt: whether retrying can help, and a description safe to log and store
/// (the server's reply or the I/O error; never the message).
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct SendError {
    pub permanent: bool,
    pub text: String,
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Directory(PathBuf),
}

// The SMTP client's own Debug shows its configuration, credentials included.
impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp(..)"),
            Self::Directory(dir) => f.debug_tuple("Transport::Directory").field(dir).finish(),
        }
    }
}

impl Transport {
    pub fn new(settings: &EmailSettings) -> Result<(Self, Mailbox), TransportSetupError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| TransportSetupError::From)?;
        let transport = if let Some(url) = &settings.smtp_url {
            let timeout = settings.timeout.unsigned_abs();
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                .map_err(|_| TransportSetupError::SmtpUrl)?
                .timeout(Some(timeout))
                .build();
            Self::Smtp(smtp)
        } else {
            // Created with the first mail: a start that never sends one (the CLI) leaves no
            // directory behind.
            Self::Directory(settings.dir.clone())
        };
        Ok((transport, from))
    }

    /// What the operator sees in logs and `/readyz`-style reports.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Smtp(_) => "smtp",
            Self::Directory(_) => "directory",
        }
    }

    pub async fn send(
        &self,
        from: &Mailbox,
        to: &str,
        mail: Rendered,
        kind: &str,
    ) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|_| SendError {
            permanent: true,
            text: "the recipient is not a valid mailbox".into(),
        })?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| SendError {
                permanent: true,
                text: format!("cannot build the message: {e}"),
            })?;
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| SendError {
                permanent: e.is_permanent(),
                text: crate::error::chain(&e),
            }),
            Self::Directory(dir) => {
                let path = dir.join(format!(
                    "{}-{kind}-{}.eml",
                    time::OffsetDateTime::now_utc().unix_timestamp(),
                    uuid::Uuid::new_v4().simple()
                ));
                let bytes = message.formatted();
                let (written, dir) = (path.clone(), dir.clone());
                tokio::task::spawn_blocking(move || {
                    create_private_dir(&dir)?;
                    write_private(&written, &bytes)
                })
                .await
                .map_err(|e| SendError {
                    permanent: false,
                    text: e.to_string(),
                })?
                .map_err(|e| SendError {
                    permanent: false,
                    text: format!("cannot write {}: {e}", path.display()),
                })?;
                // The file holds the link; the log names only the file.
                tracing::info!(kind, file = %path.display(), "no SMTP server configured: mail written to a file");
                Ok(())
            }
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
