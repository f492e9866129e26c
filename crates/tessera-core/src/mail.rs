//! Records of the e-mail flows: single-use links (`EmailToken`) and the durable outbox
//! (`OutboxMail`), plus the outbox's retry rule.
//!
//! An outbox row is an *intent* ("send a password-reset mail to this address"), not a rendered
//! message: the sender creates the link's token and renders the mail when it sends, so a raw
//! token is never written to the store, and the request that queued the intent does the same
//! work whether or not the address has an account.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::ValidationError;
use crate::secret::TokenHash;
use crate::types::{Email, UserId};

/// What a link sent by mail lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailTokenPurpose {
    /// Proves the account's address: sets `email_verified_at`.
    Verify,
    /// Sets a new password without the old one.
    Reset,
    /// Moves the account to the new address the link was sent to.
    ChangeEmail,
}

impl EmailTokenPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
            Self::ChangeEmail => "change_email",
        }
    }
}

impl FromStr for EmailTokenPurpose {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "verify" => Ok(Self::Verify),
            "reset" => Ok(Self::Reset),
            "change_email" => Ok(Self::ChangeEmail),
            _ => Err(ValidationError::new("purpose", "unknown token purpose")),
        }
    }
}

/// A single-use link token. Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    pub id: Uuid,
    pub user_id: UserId,
    pub purpose: EmailTokenPurpose,
    pub token_hash: TokenHash,
    /// The address the link was sent to. A verify or reset link is good only while the account
    /// still has this address; a change link moves the account to it.
    pub email: Email,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set when the link was used, or when it was invalidated (a newer link of the same
    /// purpose, a password change, an address change). Spendable only while `None`.
    pub used_at: Option<OffsetDateTime>,
}

impl EmailToken {
    /// Whether the link may still be used at `now` (the store's conditional spend decides
    /// races; this is the rule).
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

/// Which mail an outbox row asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A password-reset link, to the address that asked (if it has an account).
    PasswordReset,
    /// A link proving the account's address.
    VerifyEmail,
    /// A link, to the new address, that moves the account there.
    EmailChangeConfirm,
    /// To the old address: the account's address was changed.
    EmailChanged,
    /// To an existing account's address: someone tried to sign up with it.
    SignupExists,
}

impl MailKind {
    pub const ALL: [Self; 5] = [
        Self::PasswordReset,
        Self::VerifyEmail,
        Self::EmailChangeConfirm,
        Self::EmailChanged,
        Self::SignupExists,
    ];

    /// Also the template's base name and a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
            Self::EmailChangeConfirm => "email_change_confirm",
            Self::EmailChanged => "email_changed",
            Self::SignupExists => "signup_exists",
        }
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MailKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ValidationError::new("kind", "unknown mail kind"))
    }
}

/// One queued mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: Uuid,
    pub kind: MailKind,
    /// The account the mail is about, when the requester named it (not for a reset request,
    /// which names only an address).
    pub user_id: Option<UserId>,
    pub recipient: Email,
    /// For a change of address: the other address (the new one in a notice to the old).
    pub other_email: Option<Email>,
    pub created_at: OffsetDateTime,
    /// Sending attempts so far, counted when a sender claims the row.
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    /// A sender claimed the row until then; others skip it meanwhile.
    pub lease_until: Option<OffsetDateTime>,
    /// What the last failed attempt said (never the message or a token).
    pub last_error: Option<String>,
    /// Given up: permanent refusal or too many attempts.
    pub failed_at: Option<OffsetDateTime>,
}

impl OutboxMail {
    /// A mail due now.
    pub fn new(
        kind: MailKind,
        user_id: Option<UserId>,
        recipient: Email,
        other_email: Option<Email>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            kind,
            user_id,
            recipient,
            other_email,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            failed_at: None,
        }
    }
}

/// How long to wait before the next attempt after `attempts` failed ones: `base` doubled per
/// attempt, at most `max`.
pub fn retry_delay(attempts: u32, base: Duration, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let factor = 1i32 << doublings;
    base.checked_mul(factor).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let (base, max) = (Duration::seconds(5), Duration::minutes(10));
        let delays: Vec<i64> = (1..=10)
            .map(|n| retry_delay(n, base, max).whole_seconds())
            .collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(retry_delay(0, base, max), base);
        assert_eq!(retry_delay(u32::MAX, base, max), max);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in MailKind::ALL {
            assert_eq!(kind.as_str().parse::<MailKind>().unwrap(), kind);
        }
        assert!("other".parse::<MailKind>().is_err());
        for p in [
            EmailTokenPurpose::Verify,
            EmailTokenPurpose::Reset,
            EmailTokenPurpose::ChangeEmail,
        ] {
            assert_eq!(p.as_str().parse::<EmailTokenPurpose>().unwrap(), p);
        }
    }
}
