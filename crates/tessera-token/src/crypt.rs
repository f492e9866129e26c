//! Encryption of private keys at rest (`keys.encryption_key`).
//!
//! ChaCha20-Poly1305 with a random 96-bit nonce per record. The key id and algorithm are the
//! associated data, so a ciphertext moved onto another record (or relabelled with another
//! algorithm) fails to open instead of being used under the wrong identity.
//! Sealed layout: `nonce (12 bytes) || ciphertext || tag (16 bytes)`.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::error::KeyError;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"tessera signing key v2\0";

/// The 256-bit key that encrypts signing keys at rest. Wiped on drop, never printed.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl EncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses the configuration string: 32 bytes in standard or URL-safe base64, padded or not.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let mut raw = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KeyError::InvalidEncryptionKey)?;
        let key = <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| KeyError::InvalidEncryptionKey);
        raw.zeroize();
        key.map(Self::from_bytes)
    }

    /// A fresh random key, for `tessera` to suggest to an operator.
    pub fn generate() -> Self {
        Self::from_bytes(tessera_core::secret::random_bytes::<32>())
    }

    /// The key as configuration text (standard base64).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_slice()))
    }

    /// Seals a secret other than a signing key (a TOTP key) under this key. `aad` names what
    /// the secret is and whose: it must start with a domain string of its own (so that no
    /// ciphertext of one kind opens as another) and is needed again to open it.
    pub fn seal_secret(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with_aad(self, aad, plaintext)
    }

    /// Opens what [`Self::seal_secret`] sealed with the same `aad`; `None` when the key, the
    /// `aad` or the bytes are wrong.
    pub fn open_secret(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open_with_aad(self, aad, sealed)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.0.as_slice()))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

fn associated_data(kid: &str, alg: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + kid.len() + 1 + alg.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(kid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(alg.as_bytes());
    aad
}

pub(crate) fn seal(key: &EncryptionKey, kid: &str, alg: &str, plaintext: &[u8]) -> Vec<u8> {
    seal_with_aad(key, &associated_data(kid, alg), plaintext)
}

fn seal_with_aad(key: &EncryptionKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = tessera_core::secret::random_bytes::<NONCE_LEN>();
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("ChaCha20-Poly1305 encryption cannot fail for inputs this small");
    let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

pub(crate) fn open(
    key: &EncryptionKey,
    kid: &str,
    alg: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    open_with_aad(key, &associated_data(kid, alg), sealed).ok_or_else(|| KeyError::Decrypt {
        kid: kid.to_owned(),
    })
}

fn open_with_aad(key: &EncryptionKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = EncryptionKey::generate();
        let sealed = seal(&key, "kid1", "EdDSA", b"private");
        assert_eq!(
            open(&key, "kid1", "EdDSA", &sealed).unwrap().as_slice(),
            b"private"
        );
        assert!(
            open(&key, "kid2", "EdDSA", &sealed).is_err(),
            "kid is bound"
        );
        assert!(
            open(&key, "kid1", "ES256", &sealed).is_err(),
            "alg is bound"
        );
        assert!(matches!(
            open(&EncryptionKey::generate(), "kid1", "EdDSA", &sealed),
            Err(KeyError::Decrypt { .. })
        ));
        assert!(open(&key, "kid1", "EdDSA", &sealed[..20]).is_err());
        // Two seals of the same plaintext differ: the nonce is random.
        assert_ne!(sealed, seal(&key, "kid1", "EdDSA", b"private"));
    }

    #[test]
    fn other_secrets_are_bound_to_their_aad() {
        let key = EncryptionKey::generate();
        let sealed = key.seal_secret(b"totp\0one", b"secret");
        assert_eq!(
            key.open_secret(b"totp\0one", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(key.open_secret(b"totp\0two", &sealed).is_none());
        assert!(EncryptionKey::generate()
            .open_secret(b"totp\0one", &sealed)
            .is_none());
        // A signing-key ciphertext never opens as another kind of secret, nor the reverse.
        let signing = seal(&key, "kid1", "EdDSA", b"private");
        assert!(key
            .open_secret(&associated_data("kid1", "EdDSA")[1..], &signing)
            .is_none());
    }

    #[test]
    fn config_string_parsing() {
        let key = EncryptionKey::generate();
        let text = key.to_base64();
        let again = EncryptionKey::from_base64(&text).unwrap();
        assert_eq!(again.0.as_slice(), key.0.as_slice());
        let url = URL_SAFE_NO_PAD.encode(key.0.as_slice());
        assert!(EncryptionKey::from_base64(&url).is_ok());
        assert_eq!(
            EncryptionKey::from_base64("c2hvcnQ=").unwrap_err(),
            KeyError::InvalidEncryptionKey
        );
        assert!(EncryptionKey::from_base64("not base64 !!").is_err());
        assert!(!format!("{key:?}").contains(text.as_str()));
    }
}
