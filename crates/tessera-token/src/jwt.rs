//! Access tokens: what they claim, how they are signed, and the strict verification path.

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Validation};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use tessera_core::secret::random_bytes;
use tessera_core::{Amr, SessionId, UserId};
use time::OffsetDateTime;

use crate::alg::Alg;
use crate::error::{KeyError, VerifyError};
use crate::ring::KeyRing;
use crate::TokenConfig;

/// The JOSE `typ` of Tessera access tokens (RFC 9068), so that no other JWT signed by the same
/// key (an ID token, a logout token) can be replayed as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Tokens longer than this are refused before any parsing. Ours are well under 1 KiB (RS256
/// with a few roles); the cap bounds the work a hostile header can cause.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
const JTI_BYTES: usize = 16;

/// What the server knows when it mints an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRequest {
    pub sub: UserId,
    pub sid: SessionId,
    pub client_id: String,
    pub scope: Option<String>,
    pub roles: Vec<String>,
    /// The user's custom claims, put beside the standard ones. Their names were checked against
    /// the registered and Tessera claims when they were set (`tessera_core::CustomClaims`).
    pub claims: Map<String, Value>,
    /// How the session was authenticated: the `amr` and `acr` claims.
    pub amr: Amr,
}

/// The claims of a Tessera access token. Times are NumericDate seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: UserId,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub sid: SessionId,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// RFC 8176 authentication methods of the session (`["pwd"]`, `["pwd", "otp", "mfa"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The assurance level reached: `urn:tessera:aal1` or `urn:tessera:aal2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Every other claim: the user's custom claims.
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

impl AccessClaims {
    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn issued_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.iat).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A freshly signed access token. `Debug` hides the token: it is a bearer credential.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub claims: AccessClaims,
}

impl IssuedToken {
    pub fn expires_at(&self) -> OffsetDateTime {
        self.claims.expires_at()
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

/// The signing half of the current key, with its header already encoded: the header is the same
/// for every token the key signs, so it is built once.
pub(crate) struct Signer {
    pub kid: String,
    pub alg: Alg,
    key: EncodingKey,
    header_b64: String,
}

impl Signer {
    pub fn new(kid: String, alg: Alg, key: EncodingKey) -> Self {
        let header =
            serde_json::json!({ "alg": alg.as_str(), "typ": ACCESS_TOKEN_TYP, "kid": kid });
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Self {
            kid,
            alg,
            key,
            header_b64,
        }
    }

    pub fn sign(
        &self,
        request: &AccessTokenRequest,
        cfg: &TokenConfig,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, KeyError> {
        let iat = now.unix_timestamp();
        let claims = AccessClaims {
            iss: cfg.issuer.clone(),
            sub: request.sub,
            aud: cfg.audience.clone(),
            exp: iat.saturating_add(cfg.access_ttl.whole_seconds()),
            iat,
            nbf: iat,
            jti: URL_SAFE_NO_PAD.encode(random_bytes::<JTI_BYTES>()),
            sid: request.sid,
            client_id: request.client_id.clone(),
            scope: request.scope.clone(),
            roles: request.roles.clone(),
            amr: request.amr.claim().into_iter().map(str::to_owned).collect(),
            acr: Some(request.amr.acr().to_owned()),
            custom: request.claims.clone(),
        };
        let payload = serde_json::to_vec(&claims).map_err(|_| KeyError::Sign)?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = jsonwebtoken::crypto::sign(token.as_bytes(), &self.key, self.alg.jwt())
            .map_err(|_| KeyError::Sign)?;
        token.push('.');
        token.push_str(&signature);
        Ok(IssuedToken { token, claims })
    }
}

/// The checks that do not depend on which key signed: one jsonwebtoken `Validation` per
/// algorithm (each admitting exactly that algorithm), and our own time rules.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    validations: [Validation; 4],
    leeway: i64,
}

impl Policy {
    pub fn new(cfg: &TokenConfig) -> Self {
        let validation = |alg: Alg| {
            let mut v = Validation::new(alg.jwt());
            v.set_issuer(&[&cfg.issuer]);
            v.set_audience(&[&cfg.audience]);
            v.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
            // jsonwebtoken reads the system clock; time is checked below against the `now`
            // we are given, so that the rules are testable and one clock governs everything.
            v.validate_exp = false;
            v.validate_nbf = false;
            v
        };
        Self {
            validations: Alg::ALL.map(validation),
            leeway: cfg.leeway.whole_seconds().max(0),
        }
    }
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    // Present at all (even `null`) means an extension we do not implement: refuse.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Signature, header rules and claims; not the revoked-session set (see `Verifier::check`).
///
/// The header is parsed here, strictly, before jsonwebtoken sees the token: the key comes from
/// our own map by `kid`, and the algorithm is the one bound to that key, so nothing in the
/// header (`alg: none`, an HMAC `alg` naming a public key, `jwk`, `jku`, `x5u`, `x5c`) can choose
/// how the token is checked.
pub(crate) fn verify(
    ring: &KeyRing,
    policy: &Policy,
    token: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Malformed)?;
    let header: RawHeader<'_> =
        serde_json::from_slice(&header).map_err(|_| VerifyError::Malformed)?;
    if !header.typ.as_deref().is_some_and(is_access_token_typ) {
        return Err(VerifyError::WrongType);
    }
    if header.crit {
        return Err(VerifyError::CriticalHeader);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| ring.verifying_key(kid))
        .ok_or(VerifyError::UnknownKey)?;
    if header.alg != key.alg.as_str() {
        return Err(VerifyError::AlgorithmMismatch);
    }
    let claims = jsonwebtoken::decode::<AccessClaims>(
        token,
        &key.decoding,
        &policy.validations[key.alg.index()],
    )?
    .claims;
    check_times(&claims, policy, now)?;
    Ok(claims)
}

/// The time rules, applied at verification and again on every cache hit.
pub(crate) fn check_times(
    claims: &AccessClaims,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<(), VerifyError> {
    let now = now.unix_timestamp();
    let horizon = now.saturating_add(policy.leeway);
    // RFC 7519: the token is valid only *before* exp.
    if now >= claims.exp.saturating_add(policy.leeway) {
        return Err(VerifyError::Expired);
    }
    if claims.nbf > horizon || claims.iat > horizon {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_accepts_rfc9068_spellings_only() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(is_access_token_typ(ok), "{ok}");
        }
        for bad in [
            "JWT",
            "jwt",
            "",
            "at+jwt ",
            "application/jwt",
            "id_token+jwt",
        ] {
            assert!(!is_access_token_typ(bad), "{bad}");
        }
    }

    #[test]
    fn crit_is_detected_even_when_null() {
        let parse = |json: &str| serde_json::from_str::<RawHeader<'_>>(json).map(|h| h.crit);
        assert!(!parse(r#"{"alg":"EdDSA"}"#).unwrap());
        assert!(parse(r#"{"alg":"EdDSA","crit":null}"#).unwrap());
        assert!(parse(r#"{"alg":"EdDSA","crit":["exp"]}"#).unwrap());
        assert!(
            parse(r#"{"alg":"EdDSA","alg":"none"}"#).is_err(),
            "duplicate members are refused, not last-wins"
        );
    }
}
