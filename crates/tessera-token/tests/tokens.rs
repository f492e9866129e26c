//! Issue → verify round trips, revocation, key rotation seen through a verifier, encryption at
//! rest, and verification of our tokens by software that is not ours.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{cfg, request, t0, Fixture, AUDIENCE, ISSUER};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};
use tessera_core::KeyState;
use tessera_token::rotation::{apply, ensure_initial, plan_prune, plan_rotation};
use tessera_token::{AccessClaims, Alg, EncryptionKey, KeyError, KeyRing, Verifier, VerifyError};
use time::{Duration, OffsetDateTime};

#[test]
fn round_trip_for_every_algorithm() {
    for alg in Alg::ALL {
        let fx = Fixture::new(alg);
        let req = request();
        let issued = fx.verifier.ring().issue(&req, &fx.cfg, t0()).unwrap();
        assert_eq!(issued.expires_at(), t0() + fx.cfg.access_ttl);
        assert!(!format!("{issued:?}").contains(&issued.token));

        let claims = fx.verifier.check(&issued.token, t0()).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, AUDIENCE);
        assert_eq!((claims.sub, claims.sid), (req.sub, req.sid));
        assert_eq!(claims.client_id, "first-party");
        assert_eq!(claims.scope.as_deref(), Some("openid profile"));
        assert_eq!(claims.roles, vec!["admin".to_owned()]);
        assert_eq!(claims.iat, t0().unix_timestamp());
        assert_eq!(claims.nbf, claims.iat);
        assert_eq!(claims.exp, claims.iat + 300);
        assert!(claims.jti.len() >= 22);

        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        let header_json: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                issued.token.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header_json,
            json!({"alg": alg.to_string(), "typ": "at+jwt", "kid": fx.current().kid}),
            "the header is exactly alg, typ, kid"
        );
        assert_eq!(header.kid.as_deref(), fx.verifier.ring().current_kid());
    }
}

#[test]
fn optional_claims_are_omitted_when_empty() {
    let fx = Fixture::new(Alg::EdDSA);
    let mut req = request();
    req.scope = None;
    req.roles.clear();
    let token = fx.verifier.ring().issue(&req, &fx.cfg, t0()).unwrap().token;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert!(claims.get("scope").is_none() && claims.get("roles").is_none());
    let checked = fx.verifier.check(&token, t0()).unwrap();
    assert!(checked.scope.is_none() && checked.roles.is_empty());
}

#[test]
fn revoked_session_tokens_are_refused_until_they_expire() {
    let fx = Fixture::new(Alg::EdDSA);
    let token = fx.issue(t0());
    let sid = fx.verifier.check(&token, t0()).unwrap().sid;
    let revoked_at = t0() + Duration::seconds(10);
    fx.verifier.revoked().insert(sid, revoked_at);
    let other = fx.issue(t0());

    assert_eq!(
        fx.verifier.check(&token, revoked_at).unwrap_err(),
        VerifyError::Revoked
    );
    assert!(
        fx.verifier.check(&other, revoked_at).is_ok(),
        "other sessions unaffected"
    );

    // The entry is pruned exactly when the token could no longer pass anyway.
    let horizon = fx.cfg.token_horizon();
    assert_eq!(
        fx.verifier
            .revoked()
            .prune(revoked_at + horizon - Duration::milliseconds(1)),
        0
    );
    assert_eq!(
        fx.verifier
            .check(&token, revoked_at + horizon - Duration::seconds(11))
            .unwrap_err(),
        VerifyError::Revoked
    );
    assert_eq!(fx.verifier.revoked().prune(revoked_at + horizon), 1);
    assert_eq!(
        fx.verifier.check(&token, revoked_at + horizon).unwrap_err(),
        VerifyError::Expired
    );
}

#[test]
fn rotation_keeps_old_tokens_valid_and_publishes_next_current_retired() {
    let cfg = cfg(Alg::EdDSA);
    let mut records = Vec::new();
    let changes = ensure_initial(&records, &cfg, t0(), None);
    apply(&mut records, &changes);
    let verifier = Verifier::new(KeyRing::from_records(&records, None).unwrap(), &cfg);
    let old_kid = verifier.ring().current_kid().unwrap().to_owned();
    let old_token = verifier.ring().issue(&request(), &cfg, t0()).unwrap().token;

    let rotated_at = t0() + Duration::seconds(60);
    let changes = plan_rotation(&records, &cfg, rotated_at, None);
    apply(&mut records, &changes);
    verifier.replace_ring(KeyRing::from_records(&records, None).unwrap());
    let ring = verifier.ring();
    let new_kid = ring.current_kid().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);

    let kid_in = |state| {
        records
            .iter()
            .find(|r| r.state == state)
            .unwrap()
            .kid
            .clone()
    };
    let published: Vec<String> = ring.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        published,
        vec![
            kid_in(KeyState::Current),
            kid_in(KeyState::Next),
            kid_in(KeyState::Retired)
        ]
    );
    assert_eq!(kid_in(KeyState::Retired), old_kid);
    for key in ring.jwks()["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "EdDSA");
        assert!(key.get("d").is_none());
    }

    // The old token verifies for its whole life; new tokens carry the new kid.
    assert!(verifier.check(&old_token, rotated_at).is_ok());
    assert!(verifier
        .check(
            &old_token,
            t0() + cfg.access_ttl + cfg.leeway - Duration::seconds(1)
        )
        .is_ok());
    let new_token = ring.issue(&request(), &cfg, rotated_at).unwrap().token;
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .unwrap(),
        new_kid
    );
    assert!(verifier.check(&new_token, rotated_at).is_ok());

    // Pruned only once every token it signed is past exp + leeway.
    let horizon = cfg.token_horizon();
    assert!(plan_prune(&records, &cfg, rotated_at + horizon - Duration::seconds(1)).is_empty());
    let changes = plan_prune(&records, &cfg, rotated_at + horizon);
    assert_eq!(changes.len(), 1);
    apply(&mut records, &changes);
    verifier.replace_ring(KeyRing::from_records(&records, None).unwrap());
    assert_eq!(verifier.ring().jwks()["keys"].as_array().unwrap().len(), 2);
    assert!(!verifier.ring().contains(&old_kid));
    assert!(verifier.check(&new_token, rotated_at).is_ok());
}

#[test]
fn encrypted_keys_round_trip_and_wrong_key_is_a_clear_error() {
    let key = EncryptionKey::generate();
    let cfg = cfg(Alg::ES256);
    let mut records = Vec::new();
    let changes = ensure_initial(&records, &cfg, t0(), Some(&key));
    apply(&mut records, &changes);
    assert!(records
        .iter()
        .all(|r| r.format_version == tessera_token::FORMAT_ENCRYPTED));

    let ring = KeyRing::from_records(&records, Some(&key)).unwrap();
    let token = ring.issue(&request(), &cfg, t0()).unwrap().token;
    assert!(Verifier::new(ring, &cfg).check(&token, t0()).is_ok());

    let wrong = KeyRing::from_records(&records, Some(&EncryptionKey::generate())).unwrap_err();
    assert!(matches!(wrong, KeyError::Decrypt { .. }), "{wrong:?}");
    assert!(wrong.to_string().contains("wrong keys.encryption_key"));
    let missing = KeyRing::from_records(&records, None).unwrap_err();
    assert!(
        matches!(missing, KeyError::EncryptionKeyMissing { .. }),
        "{missing:?}"
    );
}

#[test]
fn ring_needs_exactly_distinct_kids_and_a_current_key() {
    let fx = Fixture::new(Alg::EdDSA);
    let next_only: Vec<_> = fx
        .records
        .iter()
        .filter(|r| r.state == KeyState::Next)
        .cloned()
        .collect();
    assert_eq!(
        KeyRing::from_records(&next_only, None).unwrap_err(),
        KeyError::NoCurrentKey
    );
    let doubled = [fx.records.clone(), fx.records.clone()].concat();
    assert!(matches!(
        KeyRing::from_records(&doubled, None).unwrap_err(),
        KeyError::DuplicateKid { .. }
    ));
}

/// What `tessera-guard` does: a ring built from the published JWKS alone verifies our tokens
/// and cannot sign.
#[test]
fn ring_from_published_jwks_verifies() {
    for alg in [Alg::EdDSA, Alg::ES256, Alg::RS256] {
        let fx = Fixture::new(alg);
        let public = KeyRing::from_jwks(fx.verifier.ring().jwks()).unwrap();
        assert_eq!(public.len(), 2);
        assert_eq!(public.jwks(), fx.verifier.ring().jwks());
        assert_eq!(
            public.issue(&request(), &fx.cfg, t0()).unwrap_err(),
            KeyError::NoSigningKey
        );
        let token = fx.issue(t0());
        assert!(Verifier::new(public, &fx.cfg).check(&token, t0()).is_ok());
    }
    let foreign = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"},
        {"kty": "EC", "crv": "P-384", "alg": "ES384", "kid": "p", "x": "AA", "y": "AA"},
        {"kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "kid": "e", "n": "AQAB", "e": "AQAB"},
    ]});
    assert!(KeyRing::from_jwks(&foreign).unwrap().is_empty());
    let bad_point = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "x", "x": "AAAA"}]});
    assert!(KeyRing::from_jwks(&bad_point).is_err());
    assert!(KeyRing::from_jwks(&json!({"nokeys": []})).is_err());
}

/// The independent check: plain jsonwebtoken, given nothing but our JWKS document as JSON text,
/// verifies our tokens. Its validation reads the system clock, so these tokens are issued now.
#[test]
fn plain_jsonwebtoken_verifies_our_tokens_from_our_jwks() {
    for alg in [Alg::EdDSA, Alg::ES256, Alg::RS256] {
        let fx = Fixture::new(alg);
        let now = OffsetDateTime::now_utc();
        let token = fx.issue(now);
        let jwks: JwkSet = serde_json::from_str(&fx.verifier.ring().jwks().to_string()).unwrap();
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        let jwk = jwks.find(&kid).expect("the signing key is published");
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let algorithm: jsonwebtoken::Algorithm = jwk
            .common
            .key_algorithm
            .unwrap()
            .to_string()
            .parse()
            .unwrap();
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims, fx.verifier.check(&token, now).unwrap());
    }
}

fn python_with_pyjwt() -> Option<String> {
    let candidates = std::env::var("PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_owned(), "/usr/bin/python3".to_owned()]);
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import jwt, cryptography"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A second, unrelated implementation: PyJWT verifies our tokens against our JWKS, and refuses
/// a tampered one.
#[test]
fn pyjwt_verifies_our_tokens_from_our_jwks() {
    let Some(python) = python_with_pyjwt() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no python3 with PyJWT and cryptography was found (apt-get install python3-jwt python3-cryptography)"
        );
        eprintln!("skipped: no python3 with PyJWT and cryptography (set CI to make this fail)");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyjwt_verify.py");
    for alg in [Alg::EdDSA, Alg::ES256, Alg::RS256] {
        let fx = Fixture::new(alg);
        let now = OffsetDateTime::now_utc();
        let token = fx.issue(now);
        let (message, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{message}.{flipped}{}", &signature[1..]);
        let input = json!({
            "jwks": fx.verifier.ring().jwks(),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "algorithm": alg.to_string(),
            "valid": [token],
            "invalid": [tampered],
        });
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{alg}: PyJWT refused: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_str(stdout.trim()).unwrap();
        let ours = fx.verifier.check(&token, now).unwrap();
        assert_eq!(result["claims"][0]["sid"], ours.sid.to_string());
        assert_eq!(result["rejected"], 1);
    }
}

#[test]
fn cached_verification_still_applies_time_and_revocation() {
    use tessera_core::{KeyState, SessionId, UserId};
    use tessera_token::rotation::{apply, ensure_initial};
    use tessera_token::{AccessTokenRequest, KeyRing, TokenConfig, Verifier, VerifyError};
    use time::{Duration, OffsetDateTime};

    let cfg = TokenConfig::new("https://issuer.test", "tessera");
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut records = Vec::new();
    let changes = ensure_initial(&records, &cfg, now, None);
    apply(&mut records, &changes);
    assert!(records.iter().any(|r| r.state == KeyState::Current));
    let verifier = Verifier::new(KeyRing::from_records(&records, None).unwrap(), &cfg);
    let sid = SessionId::random();
    let request = AccessTokenRequest {
        sub: UserId::random(),
        sid,
        client_id: "c".into(),
        scope: None,
        roles: vec![],
        claims: serde_json::Map::new(),
        amr: tessera_core::Amr::PASSWORD,
    };
    let token = verifier.ring().issue(&request, &cfg, now).unwrap().token;

    assert!(
        verifier.check(&token, now).is_ok(),
        "first check verifies and caches"
    );
    assert!(
        verifier.check(&token, now).is_ok(),
        "second check is a cache hit"
    );
    let late = now + cfg.access_ttl + cfg.leeway;
    assert_eq!(
        verifier.check(&token, late),
        Err(VerifyError::Expired),
        "expiry applies on a hit"
    );
    verifier.revoked().insert(sid, now);
    assert_eq!(
        verifier.check(&token, now),
        Err(VerifyError::Revoked),
        "revocation applies on a hit"
    );
    // A token differing in one byte is not a hit: it goes through full verification.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(verifier
        .check(&tampered, now + Duration::seconds(1))
        .is_err());
}
