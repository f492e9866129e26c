//! Password hashing with argon2id at the OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is CPU-bound and takes tens of milliseconds; the server runs it on a fixed set of
//! hashing threads so a login flood cannot starve the async runtime. Each of those threads owns
//! one [`HashMemory`] and runs every hash in it: allocating 19 MiB per hash on whichever thread
//! happens to run it leaves the allocator holding hundreds of megabytes after a burst.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

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

/// argon2 working memory, sized for one hasher's parameters and reused from hash to hash.
pub struct HashMemory(Vec<Block>);

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashMemory({} blocks)", self.0.len())
    }
}

/// A [`PasswordHasher`] bound to working memory: every hash and verification runs in it.
#[derive(Debug)]
pub struct HasherWithMemory<'a> {
    hasher: &'a PasswordHasher,
    memory: &'a mut HashMemory,
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

    /// Fresh working memory for this hasher's parameters (`m_cost` KiB).
    pub fn new_memory(&self) -> HashMemory {
        HashMemory(vec![Block::default(); self.params.block_count()])
    }

    /// Binds this hasher to `memory`, which is reused by every call on the result.
    pub fn with_memory<'a>(&'a self, memory: &'a mut HashMemory) -> HasherWithMemory<'a> {
        HasherWithMemory {
            hasher: self,
            memory,
        }
    }

    /// A PHC string with a fresh 128-bit salt, in freshly allocated memory.
    pub fn hash(&self, password: &Password) -> String {
        self.with_memory(&mut self.new_memory()).hash(password)
    }

    /// Checks `password` against a stored PHC string, in freshly allocated memory.
    pub fn verify(&self, password: &Password, stored: &str) -> Verification {
        self.with_memory(&mut self.new_memory())
            .verify(password, stored)
    }

    /// Burns the same work as a real verification and always fails.
    pub fn dummy_verify(&self, password: &Password) -> Verification {
        self.with_memory(&mut self.new_memory())
            .dummy_verify(password)
    }

    fn needs_rehash(&self, parsed: &PasswordHash<'_>) -> bool {
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(Version::V0x13.into())
        {
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

impl HasherWithMemory<'_> {
    /// A PHC string with a fresh 128-bit salt.
    pub fn hash(&mut self, password: &Password) -> String {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
        self.hash_with_salt(password, salt.as_salt())
    }

    /// Computes what `argon2`'s `hash_password` would, but in our memory.
    fn hash_with_salt(&mut self, password: &Password, salt: Salt<'_>) -> String {
        let params = &self.hasher.params;
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .expect("our salts are valid base64");
        let mut raw = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.expose().as_bytes(),
                salt_bytes,
                &mut raw,
                &mut self.memory.0,
            )
            .expect("argon2 hashing with valid parameters cannot fail");
        PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(params).expect("valid parameters encode"),
            salt: Some(salt),
            hash: Some(Output::new(&raw).expect("32 bytes is a valid output")),
        }
        .to_string()
    }

    /// Checks `password` against a stored PHC string, recomputing it with the string's own
    /// algorithm, version and parameters.
    pub fn verify(&mut self, password: &Password, stored: &str) -> Verification {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verification::Invalid;
        };
        let Some(computed) = self.recompute(password, &parsed) else {
            return Verification::Invalid;
        };
        let expected = parsed.hash.as_ref().map_or(&[][..], Output::as_bytes);
        if !bool::from(computed.as_slice().ct_eq(expected)) {
            return Verification::Invalid;
        }
        Verification::Valid {
            needs_rehash: self.hasher.needs_rehash(&parsed),
        }
    }

    /// Burns the same work as a real verification and always fails.
    pub fn dummy_verify(&mut self, password: &Password) -> Verification {
        let dummy = self.hasher.dummy_hash.clone();
        let _ = self.verify(password, &dummy);
        Verification::Invalid
    }

    /// The raw argon2 output for `password` under `parsed`'s settings, or `None` when the
    /// stored string is not a usable argon2 hash.
    fn recompute(&mut self, password: &Password, parsed: &PasswordHash<'_>) -> Option<Vec<u8>> {
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(parsed).ok()?;
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
        let mut out = vec![0u8; parsed.hash?.len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let pwd = password.expose().as_bytes();
        let result = if params.block_count() <= self.memory.0.len() {
            argon2.hash_password_into_with_memory(pwd, salt_bytes, &mut out, &mut self.memory.0)
        } else {
            // A hash made under larger, older parameters: rare, and rehashed on success.
            argon2.hash_password_into(pwd, salt_bytes, &mut out)
        };
        result.ok().map(|()| out)
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

    /// The reused memory must give exactly what the plain argon2 crate gives, both ways, or
    /// every stored hash would stop verifying.
    #[test]
    fn hashes_in_reused_memory_interoperate_with_plain_argon2() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(1024, 2, 1, None).unwrap();
        let h = PasswordHasher::with_params(params.clone());
        let plain = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let pw = Password::for_login("correct horse").unwrap();
        let mut memory = h.new_memory();
        let mut bound = h.with_memory(&mut memory);

        // Same salt, same PHC string, even on a second use of the dirty memory.
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        let expected = plain
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert_eq!(bound.hash_with_salt(&pw, salt.as_salt()), expected);
        assert_eq!(bound.hash_with_salt(&pw, salt.as_salt()), expected);

        // Ours verifies with plain argon2, plain argon2's with ours.
        let ours = bound.hash(&pw);
        assert!(plain
            .verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap())
            .is_ok());
        assert_eq!(
            bound.verify(&pw, &expected),
            Verification::Valid {
                needs_rehash: false
            }
        );
        let wrong = Password::for_login("correct horsE").unwrap();
        assert_eq!(bound.verify(&wrong, &expected), Verification::Invalid);
    }

    /// Hashes made by other versions, algorithms and larger parameters still verify through
    /// the reused memory (and ask for a rehash).
    #[test]
    fn foreign_hashes_verify_through_reused_memory() {
        use argon2::password_hash::PasswordHasher as _;
        let h = cheap();
        let mut memory = h.new_memory();
        let mut bound = h.with_memory(&mut memory);
        let pw = Password::for_login("correct horse").unwrap();
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        for (algorithm, version, m_cost) in [
            (Algorithm::Argon2i, Version::V0x13, 512),
            (Algorithm::Argon2id, Version::V0x10, 1024),
            (Algorithm::Argon2id, Version::V0x13, 4096),
        ] {
            let params = Params::new(m_cost, 1, 1, Some(24)).unwrap();
            let stored = Argon2::new(algorithm, version, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            assert_eq!(
                bound.verify(&pw, &stored),
                Verification::Valid { needs_rehash: true },
                "{stored}"
            );
            let wrong = Password::for_login("correct horsE").unwrap();
            assert_eq!(bound.verify(&wrong, &stored), Verification::Invalid);
        }
    }

    #[test]
    fn recommended_parameters_are_owasp() {
        let h = PasswordHasher::recommended();
        assert!(h.dummy_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
