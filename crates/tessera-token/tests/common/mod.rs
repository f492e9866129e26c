//! Shared fixtures for the integration tests: fixed times, rings per algorithm, and a forge
//! that signs arbitrary headers and claims with any key, to build the tokens an attacker (or a
//! buggy issuer) would send.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tessera_core::{KeyState, SessionId, SigningKeyRecord, UserId};
use tessera_token::rotation::{apply, ensure_initial};
use tessera_token::{AccessTokenRequest, Alg, KeyRing, TokenConfig, Verifier};
use time::OffsetDateTime;

pub const ISSUER: &str = "https://auth.example.test";
pub const AUDIENCE: &str = "tessera";

pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_760_000_000).unwrap()
}

pub fn cfg(alg: Alg) -> TokenConfig {
    TokenConfig {
        algorithm: alg,
        ..TokenConfig::new(ISSUER, AUDIENCE)
    }
}

/// A current and a next key of `alg`, as a first start creates them.
pub fn records(alg: Alg) -> Vec<SigningKeyRecord> {
    let mut records = Vec::new();
    let changes = ensure_initial(&records, &cfg(alg), t0(), None);
    apply(&mut records, &changes);
    records
}

pub struct Fixture {
    pub alg: Alg,
    pub cfg: TokenConfig,
    pub records: Vec<SigningKeyRecord>,
    pub verifier: Verifier,
}

impl Fixture {
    pub fn new(alg: Alg) -> Self {
        let records = records(alg);
        let cfg = cfg(alg);
        let ring = KeyRing::from_records(&records, None).unwrap();
        Self {
            alg,
            verifier: Verifier::new(ring, &cfg),
            cfg,
            records,
        }
    }

    pub fn current(&self) -> &SigningKeyRecord {
        self.records
            .iter()
            .find(|r| r.state == KeyState::Current)
            .unwrap()
    }

    pub fn issue(&self, now: OffsetDateTime) -> String {
        self.verifier
            .ring()
            .issue(&request(), &self.cfg, now)
            .unwrap()
            .token
    }

    /// Claims our issuer would write at `t0()`.
    pub fn claims(&self) -> Value {
        let iat = t0().unix_timestamp();
        json!({
            "iss": self.cfg.issuer, "sub": UserId::random(), "aud": self.cfg.audience,
            "exp": iat + self.cfg.access_ttl.whole_seconds(), "iat": iat, "nbf": iat,
            "jti": "j1", "sid": SessionId::random(), "client_id": "first-party",
        })
    }

    /// A token signed with the real current key but with any header and claims.
    pub fn signed_by_us(&self, header: &Value, claims: &Value) -> String {
        let key = encoding_key(self.current());
        forge(header, claims, &key, self.alg.to_string().parse().unwrap())
    }

    /// The header our issuer writes.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg.to_string(), "typ": "at+jwt", "kid": self.current().kid})
    }
}

pub fn request() -> AccessTokenRequest {
    AccessTokenRequest {
        sub: UserId::random(),
        sid: SessionId::random(),
        client_id: "first-party".into(),
        scope: Some("openid profile".into()),
        roles: vec!["admin".into()],
        claims: serde_json::Map::new(),
        amr: tessera_core::Amr::PASSWORD,
    }
}

/// The jsonwebtoken signing key of a plain (unencrypted) record.
pub fn encoding_key(record: &SigningKeyRecord) -> EncodingKey {
    let der = &record.private_key;
    match record.algorithm.as_str() {
        "EdDSA" => EncodingKey::from_ed_der(der),
        "ES256" => EncodingKey::from_ec_der(der),
        "HS256" => EncodingKey::from_secret(der),
        "RS256" => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der).unwrap();
            EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
        }
        other => panic!("unexpected algorithm {other}"),
    }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compact JWS of `header` and `claims`, signed with `key` under `alg`.
pub fn forge(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// Compact JWS with a signature of our choosing.
pub fn forge_raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(claims.to_string()),
        b64(signature)
    )
}
