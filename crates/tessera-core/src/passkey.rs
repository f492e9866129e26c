//! Passkeys (WebAuthn credentials) as the store keeps them, and the pending WebAuthn ceremonies.
//!
//! The credential itself (public key, counter, flags) is opaque here: the engine serialises
//! `webauthn-rs`'s `Passkey` into [`PasskeyRecord::credential`]. Likewise a ceremony's state
//! (the challenge and what the finish must check) is serialised into [`Ceremony::state`], so
//! that a ceremony started on one instance can be finished on another.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ValidationError;
use crate::types::UserId;

/// Longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// A registered passkey.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: UserId,
    /// The WebAuthn credential id: unique across all users.
    pub credential_id: Vec<u8>,
    pub name: String,
    /// The serialised `webauthn_rs::prelude::Passkey` (public key, counter, flags).
    pub credential: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// Checks and trims a passkey's name: 1 to [`NAME_MAX_CHARS`] characters, no control ones.
pub fn clean_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(ValidationError::new("name", "must be 1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// What a pending WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a new passkey for a signed-in user.
    Register,
    /// A passwordless sign-in with a discoverable credential.
    Login,
    /// Proving a passkey as a second factor (after a password, or for a step-up).
    SecondFactor,
}

impl CeremonyKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::SecondFactor => "second_factor",
        }
    }
}

impl FromStr for CeremonyKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "register" => Ok(Self::Register),
            "login" => Ok(Self::Login),
            "second_factor" => Ok(Self::SecondFactor),
            _ => Err(ValidationError::new("kind", "unknown ceremony kind")),
        }
    }
}

/// A WebAuthn ceremony between its start and its finish: single use, short-lived.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id: Uuid,
    pub kind: CeremonyKind,
    /// The user it was started for; `None` for a passwordless sign-in (the credential says).
    pub user_id: Option<UserId>,
    /// The serialised `webauthn-rs` state.
    pub state: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Laptop ").unwrap(), "Laptop");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(65)).is_err());
        assert!(clean_name("a\nb").is_err());
        assert_eq!(clean_name(&"é".repeat(64)).unwrap().chars().count(), 64);
    }

    #[test]
    fn ceremony_kinds_parse() {
        for kind in [
            CeremonyKind::Register,
            CeremonyKind::Login,
            CeremonyKind::SecondFactor,
        ] {
            assert_eq!(kind.as_str().parse::<CeremonyKind>().unwrap(), kind);
        }
    }
}
