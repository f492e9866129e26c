//! Newtypes that validate on construction: once you hold an [`Email`] or a [`Password`], it obeys
//! the policy, so nothing downstream has to check again.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::ValidationError;

/// RFC 5321 limits a forward path to 256 octets including the angle brackets.
pub const EMAIL_MAX_BYTES: usize = 254;
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const PASSWORD_DEFAULT_MIN_CHARS: usize = 8;

/// An email address, trimmed, NFC-normalised and lower-cased so that uniqueness and look-ups are
/// case-insensitive. Internationalised (UTF-8) addresses are accepted.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        // NFC again after lower-casing: a lower-case letter may have a precomposed form that its
        // upper-case one lacks (`T` + U+0308 has none, `t` + U+0308 is `ẗ`), and without it the
        // two spellings of one address would be two accounts. Found by a property test.
        let normalized: String = trimmed
            .nfc()
            .collect::<String>()
            .to_lowercase()
            .nfc()
            .collect();
        if normalized.is_empty() {
            return Err(ValidationError::new("email", "must not be empty"));
        }
        if normalized.len() > EMAIL_MAX_BYTES {
            return Err(ValidationError::new(
                "email",
                format!("must be at most {EMAIL_MAX_BYTES} bytes"),
            ));
        }
        if normalized.chars().any(is_invisible_or_control) {
            return Err(ValidationError::new(
                "email",
                "must not contain spaces, control or invisible formatting characters",
            ));
        }
        let Some((local, domain)) = normalized.rsplit_once('@') else {
            return Err(ValidationError::new("email", "must contain '@'"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(ValidationError::new(
                "email",
                "local part must be 1 to 64 bytes",
            ));
        }
        if domain.is_empty()
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || domain.contains(['@', '<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"'])
        {
            return Err(ValidationError::new("email", "domain is not valid"));
        }
        if local.contains(['@', '<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"']) {
            return Err(ValidationError::new(
                "email",
                "local part has characters that are not allowed",
            ));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that render as nothing or reorder the text around them (zero-width joiners, bidi
/// overrides, the BOM: general category Cf), control characters (Cc) and spaces. Each lets two
/// addresses look identical to a person while comparing different, or hides part of an address in
/// a log line or an admin screen.
fn is_invisible_or_control(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c.general_category(),
            GeneralCategory::Control | GeneralCategory::Format
        )
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The password rules of API.md: a length window counted in Unicode scalar values after NFKC
/// normalisation, the built-in list of common passwords plus the operator's deny-list, no single
/// repeated character, and not the account's own email address.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_chars: usize,
    /// `password.deny_list`, NFKC-normalised and lower-cased; the built-in list is shared.
    extra_denied: HashSet<String>,
}

impl PasswordPolicy {
    pub fn new(min_chars: usize, extra_denied: impl IntoIterator<Item = String>) -> Self {
        let extra_denied = extra_denied
            .into_iter()
            .map(|s| s.nfkc().collect::<String>().to_lowercase())
            .collect();
        Self {
            min_chars: min_chars.clamp(1, PASSWORD_MAX_CHARS),
            extra_denied,
        }
    }

    fn is_denied(&self, folded: &str) -> bool {
        crate::common_passwords::is_common(folded) || self.extra_denied.contains(folded)
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::new(PASSWORD_DEFAULT_MIN_CHARS, [])
    }
}

/// A password that satisfies the policy, NFKC-normalised, wiped from memory on drop and never
/// printed by `Debug`.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Validates a new password (sign-up, password change) of the account `owner` against
    /// `policy`. Messages never repeat the password.
    pub fn new(raw: &str, policy: &PasswordPolicy, owner: &Email) -> Result<Self, ValidationError> {
        let normalized = Zeroizing::new(raw.nfkc().collect::<String>());
        let chars = normalized.chars().count();
        if chars < policy.min_chars {
            return Err(ValidationError::new(
                "password",
                format!("must be at least {} characters", policy.min_chars),
            ));
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(ValidationError::new(
                "password",
                format!("must be at most {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        // Case-insensitive from here on: "PASSWORD1!" is as guessable as "password1!".
        let folded = Zeroizing::new(normalized.to_lowercase());
        let mut chars = folded.chars();
        if let Some(first) = chars.next() {
            if chars.all(|c| c == first) {
                return Err(ValidationError::new(
                    "password",
                    "must not be one character repeated",
                ));
            }
        }
        if policy.is_denied(&folded) {
            return Err(ValidationError::new(
                "password",
                "is too common; choose another",
            ));
        }
        if is_the_email(&folded, owner) {
            return Err(ValidationError::new(
                "password",
                "must not be or contain your email address",
            ));
        }
        Ok(Self(normalized))
    }

    /// A password presented at login. It is normalised the same way but not held to the policy:
    /// the policy may have tightened since the account was created, and a login must not reveal
    /// policy details. Over-long input is refused so that hashing cost stays bounded.
    pub fn for_login(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() > PASSWORD_MAX_CHARS * 4 {
            return Err(ValidationError::new("password", "is too long"));
        }
        Ok(Self(Zeroizing::new(raw.nfkc().collect())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Whether the folded password is the owner's email address, its local part, or contains the
/// whole address: the first guesses of anyone who knows whom they attack.
fn is_the_email(folded: &str, owner: &Email) -> bool {
    let email: String = owner.as_str().nfkc().collect();
    let local = email
        .rsplit_once('@')
        .map_or(email.as_str(), |(local, _)| local);
    folded == local || folded.contains(email.as_str())
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random identifier (UUIDv4 from the OS RNG).
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| ValidationError::new(stringify!($name), "is not a valid id"))
            }
        }
    };
}

uuid_id!(
    /// The stable identifier of an account.
    UserId
);
uuid_id!(
    /// The public identifier of a session. It is shown in APIs and JWT `sid` claims and is
    /// deliberately unrelated to the session's secret.
    SessionId
);

/// The public identifier of a registered client (a resource server allowed to introspect).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub String);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upper_case_letter_with_a_combining_mark_is_the_same_address_as_its_lower_case_form() {
        let upper = Email::parse("T\u{308}@example.com").unwrap();
        let composed = Email::parse("\u{1e97}@example.com").unwrap();
        let decomposed = Email::parse("t\u{308}@example.com").unwrap();
        assert_eq!(upper, composed);
        assert_eq!(decomposed, composed);
    }

    #[test]
    fn email_is_trimmed_and_case_insensitive() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        let b = Email::parse("alice@example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "alice@example.com");
    }

    #[test]
    fn internationalised_email_is_accepted() {
        let e = Email::parse("Jörg@Bücher.de").unwrap();
        assert_eq!(e.as_str(), "jörg@bücher.de");
    }

    #[test]
    fn email_rejects_bad_shapes() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@.com",
            "a@example..com",
            "a@exa\u{0}mple.com",
            "a@b@c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn email_rejects_invisible_and_control_characters() {
        for bad in [
            "ad\u{200B}a@example.com", // zero-width space
            "ada\u{200D}@example.com", // zero-width joiner
            "ada@exa\u{202E}moc.elpm", // right-to-left override
            "\u{2066}ada@example.com", // left-to-right isolate
            "ada@example.com\u{FEFF}", // byte-order mark, not trimmed as whitespace
            "a\u{AD}da@example.com",   // soft hyphen
            "ada@example\u{7F}.com",   // DEL
            "ada@example\u{85}.com",   // C1 control (next line)
            "ada@exa\u{A0}mple.com",   // no-break space
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // Visible non-ASCII letters and marks stay allowed.
        assert!(Email::parse("zoe\u{301}@example.com").is_ok());
        assert!(Email::parse("пользователь@пример.рф").is_ok());
    }

    #[test]
    fn email_length_is_bounded_in_bytes() {
        let domain = "d".repeat(254 - 2);
        assert!(Email::parse(&format!("a@{domain}")).is_ok());
        assert!(Email::parse(&format!("ab@{domain}")).is_err());
    }

    fn ada() -> Email {
        Email::parse("Ada.Lovelace@example.com").unwrap()
    }

    fn refusal(raw: &str, policy: &PasswordPolicy) -> String {
        Password::new(raw, policy, &ada())
            .expect_err(raw)
            .to_string()
    }

    #[test]
    fn password_length_counts_scalar_values() {
        let policy = PasswordPolicy::default();
        assert!(Password::new("short", &policy, &ada()).is_err());
        // 8 emoji are 32 bytes but 8 characters.
        assert!(Password::new("🔑🗝🔒🔓🛡🧩🎲🎯", &policy, &ada()).is_ok());
        let long: String = "xy".repeat(64);
        assert!(Password::new(&long, &policy, &ada()).is_ok());
        assert!(Password::new(&format!("{long}z"), &policy, &ada()).is_err());
    }

    #[test]
    fn password_is_nfkc_normalised() {
        let policy = PasswordPolicy::default();
        // U+FB01 LATIN SMALL LIGATURE FI normalises to "fi".
        let a = Password::new("\u{FB01}rstpassword!", &policy, &ada()).unwrap();
        let b = Password::new("firstpassword!", &policy, &ada()).unwrap();
        assert_eq!(a.expose(), b.expose());
    }

    #[test]
    fn password_deny_list_is_case_insensitive() {
        let policy = PasswordPolicy::new(8, ["Tessera2026".to_owned()]);
        assert!(Password::new("PassWord", &policy, &ada()).is_err());
        assert!(Password::new("tessera2026", &policy, &ada()).is_err());
        assert!(Password::new("correct horse battery", &policy, &ada()).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case() {
        let policy = PasswordPolicy::default();
        // The three that passed the old 27-entry list, and a sample from deep in the new one.
        for pw in [
            "qwerty12",
            "Password1!",
            "PASSWORD1!",
            "sweetpea",
            "Fallen_Angel",
        ] {
            assert_eq!(
                refusal(pw, &policy),
                "password: is too common; choose another"
            );
        }
        // Short entries still count when the operator lowers the minimum.
        let lenient = PasswordPolicy::new(4, []);
        assert_eq!(
            refusal("Love", &lenient),
            "password: is too common; choose another"
        );
    }

    #[test]
    fn one_repeated_character_is_refused() {
        let policy = PasswordPolicy::default();
        for pw in [
            "aaaaaaaa",
            "ZzZzZzZzZz",
            "🔑🔑🔑🔑🔑🔑🔑🔑",
            "          ",
            "ﬀﬀﬀﬀ",
            "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        ] {
            assert_eq!(
                refusal(pw, &policy),
                "password: must not be one character repeated",
                "{pw:?}"
            );
        }
        assert!(Password::new("aaaaaaab", &policy, &ada()).is_ok());
    }

    #[test]
    fn the_owners_email_is_refused() {
        let policy = PasswordPolicy::default();
        for pw in [
            "ada.lovelace@example.com",
            "ADA.LOVELACE@EXAMPLE.COM",
            "Ada.Lovelace",
            "ada.lovelace@example.com1!",
            "my ada.lovelace@example.com",
        ] {
            assert_eq!(
                refusal(pw, &policy),
                "password: must not be or contain your email address",
                "{pw:?}"
            );
        }
        // Someone else's address, or the local part inside a longer passphrase, is fine.
        assert!(Password::new("grace.hopper@example.com", &policy, &ada()).is_ok());
        assert!(Password::new("ada.lovelace wrote the first program", &policy, &ada()).is_ok());
    }

    #[test]
    fn a_strong_passphrase_is_accepted() {
        let policy = PasswordPolicy::default();
        let p = Password::new("correct horse battery staple", &policy, &ada()).unwrap();
        assert_eq!(p.expose(), "correct horse battery staple");
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::new("hunter2hunter2", &PasswordPolicy::default(), &ada()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
