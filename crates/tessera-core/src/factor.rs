//! Second factors: what a user can prove besides a password, how a session records what was
//! proven (`amr`, RFC 8176) and at which assurance level (`aal`), and the records the store
//! keeps for them (factors, recovery codes, the pending second step of a login).
//!
//! A new kind of factor (WebAuthn, later) is a [`FactorKind`] variant, an [`AuthnMethod`] it
//! proves, and its verification in the engine; the login's second step, `amr`/`aal` and step-up
//! follow from these types.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::authz::Scope;
use crate::error::ValidationError;
use crate::model::SessionKind;
use crate::secret::TokenHash;
use crate::types::UserId;

/// The kinds of second factor. Each has at most one confirmed instance per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// RFC 6238 time-based one-time passwords (an authenticator app).
    Totp,
    /// One of the single-use codes handed out when a factor is confirmed.
    RecoveryCode,
    /// A WebAuthn credential; a user may have several (see [`crate::passkey`]).
    Passkey,
}

impl FactorKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }

    /// What proving this factor adds to a session's `amr`. A recovery code is a one-time
    /// password (RFC 8176 §2 `otp`) as much as a TOTP code is. A passkey's method depends on
    /// the credential (`hwk` or `swk`): the engine decides at each use.
    pub const fn method(self) -> AuthnMethod {
        match self {
            Self::Totp | Self::RecoveryCode => AuthnMethod::Otp,
            Self::Passkey => AuthnMethod::Hwk,
        }
    }
}

impl fmt::Display for FactorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FactorKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "totp" => Ok(Self::Totp),
            "recovery_code" => Ok(Self::RecoveryCode),
            "passkey" => Ok(Self::Passkey),
            _ => Err(ValidationError::new("kind", "unknown factor kind")),
        }
    }
}

/// One authentication method of RFC 8176 that a Tessera session can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthnMethod {
    /// A password (`pwd`).
    Pwd,
    /// A one-time password (`otp`): TOTP or a recovery code.
    Otp,
    /// Proof of possession of a hardware-bound key (`hwk`): a device-bound passkey.
    Hwk,
    /// Proof of possession of a software-secured key (`swk`): a synced passkey.
    Swk,
    /// User presence and verification by the authenticator (`user`: PIN or biometric).
    User,
}

impl AuthnMethod {
    const ALL: [Self; 5] = [Self::Pwd, Self::Otp, Self::Hwk, Self::Swk, Self::User];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
            Self::User => "user",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Pwd => 1,
            Self::Otp => 2,
            Self::Hwk => 4,
            Self::Swk => 8,
            Self::User => 16,
        }
    }

    /// Whether this method is a second factor (counts towards AAL2 beside a password).
    const fn is_second_factor(self) -> bool {
        matches!(self, Self::Otp | Self::Hwk | Self::Swk)
    }

    /// Whether this method is a cryptographic key (a passkey).
    const fn is_key(self) -> bool {
        matches!(self, Self::Hwk | Self::Swk)
    }
}

/// The set of methods a session was authenticated with: its `amr`. Stored as the
/// space-separated names (`"pwd otp"`); shown as an array, with RFC 8176's `mfa` added when
/// more than one factor was used.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[must_use]
pub struct Amr(u8);

impl Amr {
    /// A password login.
    pub const PASSWORD: Self = Self(AuthnMethod::Pwd.bit());

    pub const fn with(self, method: AuthnMethod) -> Self {
        Self(self.0 | method.bit())
    }

    /// The methods of both.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn contains(self, method: AuthnMethod) -> bool {
        self.0 & method.bit() != 0
    }

    pub fn methods(self) -> impl Iterator<Item = AuthnMethod> {
        AuthnMethod::ALL
            .into_iter()
            .filter(move |m| self.contains(*m))
    }

    /// The Authenticator Assurance Level (NIST SP 800-63B) the methods reach: 2 with a password
    /// and a second factor, or with a passkey whose authenticator verified the user (a
    /// multi-factor cryptographic authenticator); 1 with one factor; 0 with nothing.
    pub fn aal(self) -> u8 {
        let second = self.methods().any(AuthnMethod::is_second_factor);
        let verified_key =
            self.methods().any(AuthnMethod::is_key) && self.contains(AuthnMethod::User);
        if (second && self.contains(AuthnMethod::Pwd)) || verified_key {
            2
        } else {
            u8::from(self.0 != 0)
        }
    }

    /// The `amr` claim: the method names, and `mfa` when the session used two factors.
    pub fn claim(self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.methods().map(AuthnMethod::as_str).collect();
        if self.aal() >= 2 {
            names.push("mfa");
        }
        names
    }

    /// The `acr` value that names the assurance level in access tokens.
    pub fn acr(self) -> &'static str {
        match self.aal() {
            2 => ACR_AAL2,
            _ => ACR_AAL1,
        }
    }

    /// Reads an `amr` claim or the stored text back; unknown names (and `mfa`, which is
    /// derived) are ignored.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().fold(Self::default(), |amr, name| {
            match AuthnMethod::ALL.into_iter().find(|m| m.as_str() == name) {
                Some(method) => amr.with(method),
                None => amr,
            }
        })
    }

    /// The stored form: `"pwd"`, `"pwd otp"`.
    pub fn to_stored(self) -> String {
        self.methods()
            .map(AuthnMethod::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn from_stored(text: &str) -> Self {
        Self::from_names(text.split(' '))
    }
}

impl fmt::Debug for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amr({})", self.to_stored())
    }
}

/// `acr` of a token whose session used a password alone.
pub const ACR_AAL1: &str = "urn:tessera:aal1";
/// `acr` of a token whose session used a password and a second factor.
pub const ACR_AAL2: &str = "urn:tessera:aal2";

/// `format_version` of a factor secret stored as is (no `keys.encryption_key` available).
pub const SECRET_PLAIN: i32 = 1;
/// `format_version` of a factor secret sealed with `keys.encryption_key`.
pub const SECRET_SEALED: i32 = 2;

/// A second factor as persisted. `secret` is opaque to the store (plain or sealed, as
/// `secret_format` says).
#[derive(Clone, PartialEq, Eq)]
pub struct Factor {
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: FactorKind,
    pub secret: Vec<u8>,
    pub secret_format: i32,
    /// `None` while enrolment waits for the first code.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last TOTP time step accepted: a code of this step or an earlier one is refused, so a
    /// code observed in use cannot be replayed.
    pub last_step: Option<i64>,
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factor")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("secret", &"<redacted>")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// What a pending second step may become once the factor is proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// A session (`POST /v1/session`, `POST /login`); its kind comes with the completion.
    Session,
    /// A token session of the password grant, with what the first step granted.
    Token {
        client_id: String,
        scope: Option<Scope>,
    },
}

impl ChallengePurpose {
    pub const fn kind(&self) -> SessionKind {
        match self {
            Self::Session => SessionKind::Cookie,
            Self::Token { .. } => SessionKind::Token,
        }
    }
}

/// The pending second step of a login: the password was right, the account has a second
/// factor. Its secret (`tsm_…`) can do nothing but complete that step, once, before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub id: Uuid,
    pub user_id: UserId,
    pub token_hash: TokenHash,
    pub purpose: ChallengePurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_levels_and_claims() {
        let pwd = Amr::PASSWORD;
        assert_eq!(pwd.aal(), 1);
        assert_eq!(pwd.claim(), ["pwd"]);
        assert_eq!(pwd.acr(), ACR_AAL1);
        let mfa = pwd.with(AuthnMethod::Otp);
        assert_eq!(mfa.aal(), 2);
        assert_eq!(mfa.claim(), ["pwd", "otp", "mfa"]);
        assert_eq!(mfa.acr(), ACR_AAL2);
        assert_eq!(Amr::default().aal(), 0);
        assert_eq!(Amr::PASSWORD.with(AuthnMethod::Otp).to_stored(), "pwd otp");
    }

    #[test]
    fn amr_round_trips_and_ignores_unknown_names() {
        let mfa = Amr::PASSWORD.with(AuthnMethod::Otp);
        assert_eq!(Amr::from_stored(&mfa.to_stored()), mfa);
        assert_eq!(Amr::from_names(mfa.claim()), mfa);
        assert_eq!(Amr::from_names(["pop", "pwd", ""]), Amr::PASSWORD);
    }

    #[test]
    fn passkey_levels() {
        let hwk = Amr::default().with(AuthnMethod::Hwk);
        assert_eq!(hwk.aal(), 1, "no user verification: one factor");
        let verified = hwk.with(AuthnMethod::User);
        assert_eq!(verified.aal(), 2);
        assert_eq!(verified.claim(), ["hwk", "user", "mfa"]);
        let swk = Amr::default()
            .with(AuthnMethod::Swk)
            .with(AuthnMethod::User);
        assert_eq!(swk.acr(), ACR_AAL2);
        let second = Amr::PASSWORD.with(AuthnMethod::Hwk);
        assert_eq!(second.claim(), ["pwd", "hwk", "mfa"]);
        assert_eq!(Amr::from_stored(&verified.to_stored()), verified);
    }

    #[test]
    fn factor_kinds_parse() {
        for kind in [
            FactorKind::Totp,
            FactorKind::RecoveryCode,
            FactorKind::Passkey,
        ] {
            assert_eq!(kind.as_str().parse::<FactorKind>().unwrap(), kind);
        }
        assert!("sms".parse::<FactorKind>().is_err());
    }
}
