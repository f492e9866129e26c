//! Password hashing with argon2id at the OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is CPU-bound and takes tens of milliseconds; callers run it on a bounded blocking
//! pool so a login flood cannot starve the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::secret::random_bytes;
use crate::types::Password;

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A real hash of a random password, verified against for unknown accounts so that
    /// "no such user" costs the same time as "wrong password".
    dummy_hash: String,
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Valid { needs_rehash: bool },
    Invalid,
}

impl PasswordHasher {
    /// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    pub fn recommended() -> Self {
        Self::with_params(
            Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid"),
        )
    }

    pub fn with_params(params: Params) -> Self {
        let mut hasher = Self {
            params,
            dummy_hash: String::new(),
        };
        let random = crate::secret::SecretToken::generate(crate::secret::TokenKind::Session);
        let dummy = Password::for_login(random.expose()).expect("a generated token is short");
        hasher.dummy_hash = hasher.hash(&dummy);
        hasher
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string with a fresh 128-bit salt.
    pub fn hash(&self, password: &Password) -> String {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
        self.argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .expect("argon2 hashing with valid parameters cannot fail")
            .to_string()
    }

    pub fn verify(&self, password: &Password, stored: &str) -> Verification {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verification::Invalid;
        };
        if self
            .argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_err()
        {
            return Verification::Invalid;
        }
        Verification::Valid {
            needs_rehash: self.needs_rehash(&parsed),
        }
    }

    /// Burns the same work as a real verification and always fails.
    pub fn dummy_verify(&self, password: &Password) -> Verification {
        let _ = self.verify(password, &self.dummy_hash);
        Verification::Invalid
    }

    fn needs_rehash(&self, parsed: &PasswordHash<'_>) -> bool {
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return true;
        }
        match Params::try_from(parsed) {
            Ok(p) => {
                p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PasswordPolicy;

    fn cheap() -> PasswordHasher {
        PasswordHasher::with_params(Params::new(1024, 1, 1, None).unwrap())
    }

    #[test]
    fn hash_then_verify() {
        let h = cheap();
        let owner = crate::Email::parse("ada@example.com").unwrap();
        let pw = Password::new("correct horse", &PasswordPolicy::default(), &owner).unwrap();
        let stored = h.hash(&pw);
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            h.verify(&pw, &stored),
            Verification::Valid {
                needs_rehash: false
            }
        );
        let wrong = Password::for_login("correct horsE").unwrap();
        assert_eq!(h.verify(&wrong, &stored), Verification::Invalid);
    }

    #[test]
    fn changed_parameters_ask_for_rehash() {
        let pw = Password::for_login("correct horse").unwrap();
        let stored = cheap().hash(&pw);
        let stronger = PasswordHasher::with_params(Params::new(2048, 1, 1, None).unwrap());
        assert_eq!(
            stronger.verify(&pw, &stored),
            Verification::Valid { needs_rehash: true }
        );
    }

    #[test]
    fn garbage_hash_is_invalid_not_a_panic() {
        let pw = Password::for_login("whatever1").unwrap();
        assert_eq!(
            cheap().verify(&pw, "not a phc string"),
            Verification::Invalid
        );
        assert_eq!(cheap().dummy_verify(&pw), Verification::Invalid);
    }

    #[test]
    fn recommended_parameters_are_owasp() {
        let h = PasswordHasher::recommended();
        assert!(h.dummy_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
