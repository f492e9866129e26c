//! Bearer secrets: session tokens (`tss_`), refresh tokens (`tsr_`), client secrets (`tsc_`),
//! admin keys (`tsa_`) and the tokens in links sent by mail (`tse_`).
//!
//! Each is a prefix plus 43 base64url characters encoding 256 bits from the OS RNG. Only the
//! SHA-256 of the whole string is stored: for a 256-bit random secret a fast hash is enough
//! (there is nothing to brute-force), and it lets the store index the hash directly.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const SECRET_BYTES: usize = 32;
/// 32 bytes in unpadded base64url.
const ENCODED_LEN: usize = 43;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Refresh,
    ClientSecret,
    AdminKey,
    /// The token in a link sent by mail (verification, password reset, change of address).
    EmailLink,
    /// The pending second step of a login: good for nothing but completing it.
    MfaChallenge,
}

impl TokenKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Session => "tss_",
            Self::Refresh => "tsr_",
            Self::ClientSecret => "tsc_",
            Self::AdminKey => "tsa_",
            Self::EmailLink => "tse_",
            Self::MfaChallenge => "tsm_",
        }
    }
}

/// A bearer secret. Its `Debug` never shows the value and its memory is wiped on drop.
#[derive(Clone)]
pub struct SecretToken {
    kind: TokenKind,
    value: Zeroizing<String>,
}

impl SecretToken {
    /// 256 fresh bits from the operating system's RNG.
    pub fn generate(kind: TokenKind) -> Self {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        getrandom::getrandom(bytes.as_mut()).expect("the OS random number generator failed");
        Self::from_bytes(kind, bytes.as_slice())
    }

    /// A secret derived from `parent` under `key` (HMAC-SHA256). Used for refresh-token
    /// successors: whoever presents the parent within the grace window can be given the same
    /// successor again without the server ever storing a secret.
    pub fn derive(kind: TokenKind, key: &[u8], parent: &SecretToken) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(kind.prefix().as_bytes());
        mac.update(parent.expose().as_bytes());
        let mut bytes: [u8; SECRET_BYTES] = mac.finalize().into_bytes().into();
        let token = Self::from_bytes(kind, &bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        token
    }

    fn from_bytes(kind: TokenKind, bytes: &[u8]) -> Self {
        let mut value = Zeroizing::new(String::with_capacity(4 + ENCODED_LEN));
        value.push_str(kind.prefix());
        URL_SAFE_NO_PAD.encode_string(bytes, &mut value);
        Self { kind, value }
    }

    /// Accepts a presented secret only if it has exactly the shape this server issues, so that
    /// garbage never reaches a store look-up.
    pub fn parse(kind: TokenKind, presented: &str) -> Option<Self> {
        let body = presented.strip_prefix(kind.prefix())?;
        let well_formed = body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD
                .decode(body)
                .is_ok_and(|raw| raw.len() == SECRET_BYTES);
        well_formed.then(|| Self {
            kind,
            value: Zeroizing::new(presented.to_owned()),
        })
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The secret itself, for sending to its owner once. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.expose())
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretToken({}<redacted>)", self.kind.prefix())
    }
}

/// SHA-256 of a secret: what the store keeps and indexes.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Constant-time, so that a comparison never leaks how many leading bytes matched.
impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Consistent with the constant-time `eq`: both look at exactly the 32 bytes.
impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell hashes apart in a debug dump.
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// HMAC-SHA256 of `parts` under `key`, base64url-encoded: used for values the server must be able
/// to recompute but a client must not be able to forge, such as CSRF tokens.
pub fn keyed_tag(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Random bytes from the operating system, for server secrets and key material.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
    bytes
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn thousand_tokens_are_distinct_and_well_formed() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let t = SecretToken::generate(TokenKind::Session);
            let s = t.expose();
            assert_eq!(s.len(), 4 + 43);
            assert!(s.starts_with("tss_"));
            assert!(SecretToken::parse(TokenKind::Session, s).is_some());
            assert!(seen.insert(s.to_owned()), "duplicate token");
        }
    }

    #[test]
    fn parse_rejects_wrong_prefix_length_and_alphabet() {
        let good = SecretToken::generate(TokenKind::Refresh);
        assert!(SecretToken::parse(TokenKind::Session, good.expose()).is_none());
        assert!(SecretToken::parse(TokenKind::Refresh, &good.expose()[..46]).is_none());
        assert!(SecretToken::parse(TokenKind::Refresh, &format!("{}A", good.expose())).is_none());
        let bad_alphabet = format!("tsr_{}", "+".repeat(43));
        assert!(SecretToken::parse(TokenKind::Refresh, &bad_alphabet).is_none());
        assert!(SecretToken::parse(TokenKind::Refresh, "").is_none());
    }

    #[test]
    fn derived_successor_is_deterministic_and_key_bound() {
        let parent = SecretToken::generate(TokenKind::Refresh);
        let a = SecretToken::derive(TokenKind::Refresh, b"k1", &parent);
        let b = SecretToken::derive(TokenKind::Refresh, b"k1", &parent);
        let c = SecretToken::derive(TokenKind::Refresh, b"k2", &parent);
        assert_eq!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
        assert_ne!(a.expose(), parent.expose());
        assert!(SecretToken::parse(TokenKind::Refresh, a.expose()).is_some());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = SecretToken::generate(TokenKind::Session);
        assert!(!format!("{t:?}").contains(&t.expose()[4..]));
    }

    #[test]
    fn keyed_tag_separates_parts() {
        assert_ne!(
            keyed_tag(b"k", &[b"ab", b"c"]),
            keyed_tag(b"k", &[b"a", b"bc"])
        );
    }
}
