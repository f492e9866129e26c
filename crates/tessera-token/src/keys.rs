//! Key material: creating signing keys as store records, and turning records (or published JWKs)
//! back into jsonwebtoken keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand_core::OsRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value};
use tessera_core::secret::random_bytes;
use tessera_core::{KeyState, SigningKeyRecord};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::alg::Alg;
use crate::crypt::{self, EncryptionKey};
use crate::error::KeyError;

/// `format_version` of a record whose `private_key` is plain PKCS#8 DER (raw bytes for HS256).
pub const FORMAT_PLAIN: i32 = 1;
/// `format_version` of a record whose `private_key` is sealed with `keys.encryption_key`.
pub const FORMAT_ENCRYPTED: i32 = 2;

const KID_BYTES: usize = 16;
const RSA_BITS: usize = 2048;
const HMAC_SECRET_BYTES: usize = 32;
/// The JWK members that identify key material; everything else is metadata.
const MATERIAL_MEMBERS: [&str; 6] = ["kty", "crv", "x", "y", "n", "e"];

/// Creates a signing key in `state`, ready for [`tessera_core::store::KeyStore::insert_key`].
///
/// The `kid` is 128 random bits: never derived from anything a client sends, and unguessable, so
/// a key cannot be named before it is published. With `encryption_key` the private key is sealed
/// (`format_version` 2), otherwise stored as plain PKCS#8 DER (`format_version` 1).
pub fn generate_key(
    alg: Alg,
    now: OffsetDateTime,
    state: KeyState,
    encryption_key: Option<&EncryptionKey>,
) -> SigningKeyRecord {
    let kid = URL_SAFE_NO_PAD.encode(random_bytes::<KID_BYTES>());
    let private: Zeroizing<Vec<u8>> = match alg {
        Alg::EdDSA => {
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            pkcs8_bytes(key.to_pkcs8_der())
        }
        Alg::ES256 => pkcs8_bytes(p256::SecretKey::random(&mut OsRng).to_pkcs8_der()),
        Alg::RS256 => {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS)
                .expect("RSA key generation only fails when the OS RNG does");
            pkcs8_bytes(key.to_pkcs8_der())
        }
        Alg::HS256 => Zeroizing::new(random_bytes::<HMAC_SECRET_BYTES>().to_vec()),
    };
    let material = KeyMaterial::from_private(&kid, alg, &private)
        .expect("a freshly generated key is always loadable");
    let (private_key, format_version) = match encryption_key {
        Some(key) => (
            crypt::seal(key, &kid, alg.as_str(), &private),
            FORMAT_ENCRYPTED,
        ),
        None => (private.to_vec(), FORMAT_PLAIN),
    };
    SigningKeyRecord {
        public_jwk: material.public_jwk(&kid).to_string(),
        kid,
        algorithm: alg.as_str().to_owned(),
        state,
        private_key,
        format_version,
        created_at: now,
        activated_at: (state == KeyState::Current).then_some(now),
        retired_at: (state == KeyState::Retired).then_some(now),
    }
}

fn pkcs8_bytes(doc: rsa::pkcs8::Result<rsa::pkcs8::SecretDocument>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        doc.expect("PKCS#8 encoding of a valid key cannot fail")
            .as_bytes()
            .to_vec(),
    )
}

/// What a verifier needs of one key, and what a signer needs when it holds the private half.
pub(crate) struct KeyMaterial {
    pub alg: Alg,
    pub decoding: DecodingKey,
    /// The material members of the public JWK (`kty`, `crv`, `x`, `y` / `n`, `e`); `None` for
    /// HMAC, which has nothing publishable.
    pub public: Option<Map<String, Value>>,
    pub encoding: Option<EncodingKey>,
}

impl KeyMaterial {
    /// Loads a stored record: decrypts it if needed, parses the private key, and checks that the
    /// stored public JWK really is the public half (a swapped JWK would publish a key that does
    /// not verify our tokens, or one we do not hold).
    pub fn from_record(
        record: &SigningKeyRecord,
        encryption_key: Option<&EncryptionKey>,
    ) -> Result<Self, KeyError> {
        let kid = record.kid.as_str();
        let alg: Alg = record.algorithm.parse()?;
        let private = match record.format_version {
            FORMAT_PLAIN => Zeroizing::new(record.private_key.clone()),
            FORMAT_ENCRYPTED => {
                let key = encryption_key.ok_or_else(|| KeyError::EncryptionKeyMissing {
                    kid: kid.to_owned(),
                })?;
                crypt::open(key, kid, alg.as_str(), &record.private_key)?
            }
            version => {
                return Err(KeyError::UnknownFormat {
                    kid: kid.to_owned(),
                    version,
                })
            }
        };
        let material = Self::from_private(kid, alg, &private)?;
        if let Some(public) = &material.public {
            let stored: Value = serde_json::from_str(&record.public_jwk)
                .map_err(|_| KeyError::invalid(kid, "public_jwk is not JSON"))?;
            let matches = MATERIAL_MEMBERS
                .iter()
                .all(|member| stored.get(member) == public.get(*member));
            if !matches {
                return Err(KeyError::invalid(
                    kid,
                    "public_jwk does not match the private key",
                ));
            }
        }
        Ok(material)
    }

    fn from_private(kid: &str, alg: Alg, private: &[u8]) -> Result<Self, KeyError> {
        let material = match alg {
            Alg::EdDSA => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(private)
                    .map_err(|_| KeyError::invalid(kid, "not an Ed25519 PKCS#8 key"))?;
                let public = key.verifying_key().to_bytes();
                Self {
                    alg,
                    decoding: DecodingKey::from_ed_der(&public),
                    public: Some(okp_members(&public)),
                    encoding: Some(EncodingKey::from_ed_der(private)),
                }
            }
            Alg::ES256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                let key = p256::SecretKey::from_pkcs8_der(private)
                    .map_err(|_| KeyError::invalid(kid, "not a P-256 PKCS#8 key"))?;
                let point = key.public_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(KeyError::invalid(kid, "P-256 public key is the identity"));
                };
                Self {
                    alg,
                    decoding: DecodingKey::from_ec_der(point.as_bytes()),
                    public: Some(ec_members(x, y)),
                    encoding: Some(EncodingKey::from_ec_der(private)),
                }
            }
            Alg::RS256 => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(private)
                    .map_err(|_| KeyError::invalid(kid, "not an RSA PKCS#8 key"))?;
                if key.n().bits() < RSA_BITS {
                    return Err(KeyError::invalid(kid, "RSA key is shorter than 2048 bits"));
                }
                key.validate()
                    .map_err(|_| KeyError::invalid(kid, "RSA key is inconsistent"))?;
                // jsonwebtoken's RustCrypto signer wants PKCS#1, the store keeps PKCS#8.
                let pkcs1 = key
                    .to_pkcs1_der()
                    .map_err(|_| KeyError::invalid(kid, "RSA key cannot be encoded"))?;
                let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
                Self {
                    alg,
                    decoding: DecodingKey::from_rsa_raw_components(&n, &e),
                    public: Some(rsa_members(&n, &e)),
                    encoding: Some(EncodingKey::from_rsa_der(pkcs1.as_bytes())),
                }
            }
            Alg::HS256 => {
                if private.len() < HMAC_SECRET_BYTES {
                    return Err(KeyError::invalid(
                        kid,
                        "HMAC secret is shorter than 32 bytes",
                    ));
                }
                Self {
                    alg,
                    decoding: DecodingKey::from_secret(private),
                    public: None,
                    encoding: Some(EncodingKey::from_secret(private)),
                }
            }
        };
        Ok(material)
    }

    /// A verification-only key from one entry of a published JWKS. `Ok(None)` means "not a key
    /// Tessera would have published" (another algorithm, an encryption key): such entries are
    /// skipped rather than failing the whole document, since a JWKS may be shared.
    pub fn from_public_jwk(jwk: &Value) -> Result<Option<(String, Self)>, KeyError> {
        let text = |member: &str| jwk.get(member).and_then(Value::as_str);
        let Some(kid) = text("kid") else {
            return Ok(None);
        };
        if text("use").is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        let Some(alg) = text("alg").and_then(|a| a.parse::<Alg>().ok()) else {
            return Ok(None);
        };
        let bytes = |member: &str| {
            text(member)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or(KeyError::InvalidJwks("a key member is not base64url"))
        };
        let (decoding, public) = match (alg, text("kty"), text("crv")) {
            (Alg::EdDSA, Some("OKP"), Some("Ed25519")) => {
                let x = bytes("x")?;
                let x: [u8; 32] = x
                    .try_into()
                    .map_err(|_| KeyError::InvalidJwks("Ed25519 key is not 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| KeyError::InvalidJwks("Ed25519 key is not a curve point"))?;
                (DecodingKey::from_ed_der(&x), okp_members(&x))
            }
            (Alg::ES256, Some("EC"), Some("P-256")) => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::InvalidJwks("P-256 coordinates are not 32 bytes"));
                }
                let sec1 = [&[0x04][..], &x, &y].concat();
                p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| KeyError::InvalidJwks("P-256 key is not a curve point"))?;
                (DecodingKey::from_ec_der(&sec1), ec_members(&x, &y))
            }
            (Alg::RS256, Some("RSA"), _) => {
                let (n, e) = (bytes("n")?, bytes("e")?);
                let key = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(&n),
                    rsa::BigUint::from_bytes_be(&e),
                )
                .map_err(|_| KeyError::InvalidJwks("RSA key is invalid"))?;
                if key.n().bits() < RSA_BITS {
                    return Err(KeyError::InvalidJwks("RSA key is shorter than 2048 bits"));
                }
                let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
                (
                    DecodingKey::from_rsa_raw_components(&n, &e),
                    rsa_members(&n, &e),
                )
            }
            _ => return Ok(None),
        };
        Ok(Some((
            kid.to_owned(),
            Self {
                alg,
                decoding,
                public: Some(public),
                encoding: None,
            },
        )))
    }

    /// The JWK as stored in the record and served in the JWKS. For HMAC keys it names the key
    /// without any secret member.
    pub fn public_jwk(&self, kid: &str) -> Value {
        let mut jwk = self.public.clone().unwrap_or_else(|| {
            let mut oct = Map::new();
            oct.insert("kty".into(), "oct".into());
            oct
        });
        jwk.insert("kid".into(), kid.into());
        jwk.insert("alg".into(), self.alg.as_str().into());
        jwk.insert("use".into(), "sig".into());
        Value::Object(jwk)
    }
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

fn okp_members(x: &[u8]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kty".into(), "OKP".into());
    m.insert("crv".into(), "Ed25519".into());
    m.insert("x".into(), b64(x));
    m
}

fn ec_members(x: &[u8], y: &[u8]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kty".into(), "EC".into());
    m.insert("crv".into(), "P-256".into());
    m.insert("x".into(), b64(x));
    m.insert("y".into(), b64(y));
    m
}

fn rsa_members(n: &[u8], e: &[u8]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kty".into(), "RSA".into());
    m.insert("n".into(), b64(n));
    m.insert("e".into(), b64(e));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    #[test]
    fn generated_records_load_and_publish_only_public_parts() {
        for alg in Alg::ALL {
            let record = generate_key(alg, now(), KeyState::Current, None);
            assert_eq!(record.format_version, FORMAT_PLAIN);
            assert_eq!(record.algorithm, alg.as_str());
            assert_eq!(record.activated_at, Some(now()));
            assert_eq!(
                URL_SAFE_NO_PAD.decode(&record.kid).unwrap().len(),
                KID_BYTES
            );
            let jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
            assert_eq!(jwk["kid"], record.kid.as_str());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            for private_member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private_member).is_none(), "{alg}: {private_member}");
            }
            let material = KeyMaterial::from_record(&record, None).unwrap();
            assert_eq!(material.alg, alg);
            assert_eq!(material.public.is_some(), alg.is_asymmetric());
        }
    }

    #[test]
    fn kids_are_unique() {
        let a = generate_key(Alg::EdDSA, now(), KeyState::Next, None);
        let b = generate_key(Alg::EdDSA, now(), KeyState::Next, None);
        assert_ne!(a.kid, b.kid);
    }

    #[test]
    fn encrypted_record_round_trip_and_wrong_key() {
        let key = EncryptionKey::generate();
        let record = generate_key(Alg::EdDSA, now(), KeyState::Current, Some(&key));
        assert_eq!(record.format_version, FORMAT_ENCRYPTED);
        assert!(ed25519_dalek::SigningKey::from_pkcs8_der(&record.private_key).is_err());
        assert!(KeyMaterial::from_record(&record, Some(&key)).is_ok());
        assert!(matches!(
            KeyMaterial::from_record(&record, Some(&EncryptionKey::generate())),
            Err(KeyError::Decrypt { .. })
        ));
        assert!(matches!(
            KeyMaterial::from_record(&record, None),
            Err(KeyError::EncryptionKeyMissing { .. })
        ));
        // A plain record still loads once encryption is switched on.
        let plain = generate_key(Alg::EdDSA, now(), KeyState::Current, None);
        assert!(KeyMaterial::from_record(&plain, Some(&key)).is_ok());
    }

    #[test]
    fn tampered_records_are_refused() {
        let mut record = generate_key(Alg::EdDSA, now(), KeyState::Current, None);
        let other = generate_key(Alg::EdDSA, now(), KeyState::Current, None);
        record.public_jwk.clone_from(&other.public_jwk);
        assert!(matches!(
            KeyMaterial::from_record(&record, None),
            Err(KeyError::InvalidKey { .. })
        ));
        let mut record = generate_key(Alg::ES256, now(), KeyState::Current, None);
        record.algorithm = "EdDSA".into();
        assert!(KeyMaterial::from_record(&record, None).is_err());
        record.algorithm = "none".into();
        assert!(matches!(
            KeyMaterial::from_record(&record, None),
            Err(KeyError::UnsupportedAlgorithm(_))
        ));
        let mut record = generate_key(Alg::EdDSA, now(), KeyState::Current, None);
        record.format_version = 7;
        assert!(matches!(
            KeyMaterial::from_record(&record, None),
            Err(KeyError::UnknownFormat { version: 7, .. })
        ));
        let mut record = generate_key(Alg::HS256, now(), KeyState::Current, None);
        record.private_key.truncate(16);
        assert!(KeyMaterial::from_record(&record, None).is_err());
    }
}
