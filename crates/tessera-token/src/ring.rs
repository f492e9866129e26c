//! The key ring: every key that may have signed a live token, looked up by `kid`, plus the one
//! that signs now.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::DecodingKey;
use serde_json::{json, Value};
use tessera_core::{KeyState, SigningKeyRecord};
use time::OffsetDateTime;

use crate::alg::Alg;
use crate::crypt::EncryptionKey;
use crate::error::KeyError;
use crate::jwt::{AccessTokenRequest, IssuedToken, Signer};
use crate::keys::KeyMaterial;
use crate::TokenConfig;

pub(crate) struct VerifyingKey {
    pub alg: Alg,
    pub decoding: DecodingKey,
}

/// Immutable once built; a rotation builds a new ring and swaps it in
/// ([`crate::Verifier::replace_ring`]), so the hot path never locks a key map.
pub struct KeyRing {
    keys: HashMap<String, VerifyingKey>,
    signer: Option<Signer>,
    jwks: Value,
}

impl KeyRing {
    /// The ring of a Tessera server: built from every stored key, signing with the current one.
    ///
    /// Every record is loaded (and decrypted) now, so a wrong `keys.encryption_key` or a
    /// corrupted record stops the start instead of failing the first request it touches. Should
    /// the store hold two current keys (two instances rotating at once), the most recently
    /// activated one signs and both verify.
    pub fn from_records(
        records: &[SigningKeyRecord],
        encryption_key: Option<&EncryptionKey>,
    ) -> Result<Self, KeyError> {
        let mut keys = HashMap::with_capacity(records.len());
        let mut published: Vec<(&SigningKeyRecord, Value)> = Vec::new();
        let mut current: Option<(&SigningKeyRecord, KeyMaterial)> = None;
        for record in records {
            if keys.contains_key(&record.kid) {
                return Err(KeyError::DuplicateKid {
                    kid: record.kid.clone(),
                });
            }
            let material = KeyMaterial::from_record(record, encryption_key)?;
            if material.alg.is_asymmetric() {
                published.push((record, material.public_jwk(&record.kid)));
            }
            let verifying = VerifyingKey {
                alg: material.alg,
                decoding: material.decoding.clone(),
            };
            keys.insert(record.kid.clone(), verifying);
            if record.state == KeyState::Current
                && current
                    .as_ref()
                    .is_none_or(|(best, _)| signing_precedence(record) > signing_precedence(best))
            {
                current = Some((record, material));
            }
        }
        let (record, material) = current.ok_or(KeyError::NoCurrentKey)?;
        let encoding = material.encoding.ok_or(KeyError::NoSigningKey)?;
        // Current first, then next, then retired newest first: a client that only reads the
        // first key still gets the one that signs.
        published.sort_by_key(|(r, _)| {
            let rank = match r.state {
                KeyState::Current => 0,
                KeyState::Next => 1,
                KeyState::Retired => 2,
            };
            (rank, std::cmp::Reverse(activation(r)))
        });
        Ok(Self {
            keys,
            signer: Some(Signer::new(record.kid.clone(), material.alg, encoding)),
            jwks: jwks_document(published.into_iter().map(|(_, jwk)| jwk)),
        })
    }

    /// A verification-only ring from a published JWKS document, for resource servers
    /// (`tessera-guard`). Entries that are not Ed25519, P-256 or RSA signing keys with an `alg`
    /// are skipped; malformed key material is an error.
    pub fn from_jwks(document: &Value) -> Result<Self, KeyError> {
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::InvalidJwks("no \"keys\" array"))?;
        let mut keys = HashMap::with_capacity(entries.len());
        let mut published = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some((kid, material)) = KeyMaterial::from_public_jwk(entry)? else {
                continue;
            };
            if keys.contains_key(&kid) {
                return Err(KeyError::InvalidJwks("a kid appears more than once"));
            }
            published.push(material.public_jwk(&kid));
            let verifying = VerifyingKey {
                alg: material.alg,
                decoding: material.decoding,
            };
            keys.insert(kid, verifying);
        }
        Ok(Self {
            keys,
            signer: None,
            jwks: jwks_document(published),
        })
    }

    /// Signs an access token with the current key.
    pub fn issue(
        &self,
        request: &AccessTokenRequest,
        cfg: &TokenConfig,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, KeyError> {
        self.signer
            .as_ref()
            .ok_or(KeyError::NoSigningKey)?
            .sign(request, cfg, now)
    }

    /// The RFC 7517 document for `/.well-known/jwks.json`: public keys of the current, next and
    /// retired keys, each with `kid`, `alg` and `use: "sig"`. HMAC keys never appear.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The `kid` that signs, if this ring can sign.
    pub fn current_kid(&self) -> Option<&str> {
        self.signer.as_ref().map(|s| s.kid.as_str())
    }

    /// The algorithm of the signing key, if this ring can sign.
    pub fn signing_algorithm(&self) -> Option<Alg> {
        self.signer.as_ref().map(|s| s.alg)
    }

    /// Whether tokens naming `kid` can be verified by this ring.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The algorithm bound to `kid`.
    pub fn algorithm_of(&self, kid: &str) -> Option<Alg> {
        self.keys.get(kid).map(|k| k.alg)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }
}

/// Of several current keys, the one with the greatest precedence signs: the latest activated,
/// ties broken by `kid`. Instances that find two current keys in the store settle on the same
/// one by this rule (see `tessera_engine::tokens`).
pub fn signing_precedence(record: &SigningKeyRecord) -> (OffsetDateTime, &str) {
    (activation(record), record.kid.as_str())
}

fn activation(record: &SigningKeyRecord) -> OffsetDateTime {
    record
        .retired_at
        .or(record.activated_at)
        .unwrap_or(record.created_at)
}

fn jwks_document(keys: impl IntoIterator<Item = Value>) -> Value {
    json!({ "keys": keys.into_iter().collect::<Vec<_>>() })
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeyRing")
            .field("current_kid", &self.current_kid())
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}
