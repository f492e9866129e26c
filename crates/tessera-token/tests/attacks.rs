//! Every token here must be refused. Most are signed correctly by *some* key, so that what is
//! tested is the rule, not an accidental parse failure.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{b64, cfg, encoding_key, forge, forge_raw, t0, Fixture, AUDIENCE};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tessera_core::KeyState;
use tessera_token::{generate_key, Alg, KeyRing, Verifier, VerifyError, MAX_TOKEN_BYTES};
use time::Duration;

fn rejects(fx: &Fixture, token: &str, expected: VerifyError) {
    let got = fx.verifier.check(token, t0());
    assert_eq!(got.as_ref().err(), Some(&expected), "{}: {got:?}", fx.alg);
}

fn public_jwk(fx: &Fixture) -> Value {
    serde_json::from_str(&fx.current().public_jwk).unwrap()
}

#[test]
fn alg_none_is_refused() {
    let fx = Fixture::new(Alg::EdDSA);
    let claims = fx.claims();
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": none, "typ": "at+jwt", "kid": fx.current().kid});
        rejects(
            &fx,
            &forge_raw(&header, &claims, b""),
            VerifyError::AlgorithmMismatch,
        );
        // With the genuine signature left in place, too.
        let genuine = fx.signed_by_us(&fx.header(), &claims);
        let sig = genuine.rsplit('.').next().unwrap();
        let token = format!(
            "{}.{}.{sig}",
            b64(header.to_string()),
            b64(claims.to_string())
        );
        rejects(&fx, &token, VerifyError::AlgorithmMismatch);
    }
    let no_kid = json!({"alg": "none", "typ": "at+jwt"});
    rejects(
        &fx,
        &forge_raw(&no_kid, &claims, b""),
        VerifyError::UnknownKey,
    );
}

/// The classic confusion: an HS256 token whose HMAC secret is the server's *public* key, in
/// every form an attacker can download it.
#[test]
fn hmac_keyed_with_the_public_key_is_refused() {
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use rsa::pkcs1::EncodeRsaPublicKey as _;

    for alg in [Alg::EdDSA, Alg::RS256, Alg::ES256] {
        let fx = Fixture::new(alg);
        let jwk = public_jwk(&fx);
        let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        let mut secrets: Vec<Vec<u8>> = vec![
            fx.current().public_jwk.clone().into_bytes(),
            fx.verifier.ring().jwks().to_string().into_bytes(),
        ];
        match alg {
            Alg::EdDSA => {
                let x: [u8; 32] = field("x").try_into().unwrap();
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
                secrets.push(x.to_vec());
                secrets.push(key.to_public_key_der().unwrap().as_bytes().to_vec());
                secrets.push(
                    key.to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                        .unwrap()
                        .into_bytes(),
                );
            }
            Alg::RS256 => {
                let key = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(&field("n")),
                    rsa::BigUint::from_bytes_be(&field("e")),
                )
                .unwrap();
                secrets.push(field("n"));
                secrets.push(key.to_pkcs1_der().unwrap().as_bytes().to_vec());
                secrets.push(key.to_public_key_der().unwrap().as_bytes().to_vec());
                secrets.push(
                    key.to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                        .unwrap()
                        .into_bytes(),
                );
                secrets.push(
                    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
                        .unwrap()
                        .into_bytes(),
                );
            }
            _ => secrets.push([&[4u8][..], &field("x"), &field("y")].concat()),
        }
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": fx.current().kid});
        for secret in &secrets {
            let token = forge(
                &header,
                &fx.claims(),
                &EncodingKey::from_secret(secret),
                Algorithm::HS256,
            );
            rejects(&fx, &token, VerifyError::AlgorithmMismatch);
        }
    }
}

#[test]
fn other_algorithms_on_a_key_are_refused() {
    let fx = Fixture::new(Alg::RS256);
    let key = encoding_key(fx.current());
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let header = json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": fx.current().kid});
        let token = forge(&header, &fx.claims(), &key, alg);
        rejects(&fx, &token, VerifyError::AlgorithmMismatch);
    }
}

fn attacker() -> (tessera_core::SigningKeyRecord, EncodingKey) {
    let record = generate_key(Alg::EdDSA, t0(), KeyState::Current, None);
    let key = encoding_key(&record);
    (record, key)
}

#[test]
fn unknown_and_hostile_kids_are_just_unknown() {
    let fx = Fixture::new(Alg::EdDSA);
    let (record, key) = attacker();
    let long = "k".repeat(4000);
    for kid in [
        record.kid.as_str(),
        "../../etc/passwd",
        "' OR 1=1 --",
        "",
        "\u{0}",
        "%00",
        "../../../../dev/null",
        long.as_str(),
    ] {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
        rejects(
            &fx,
            &forge(&header, &fx.claims(), &key, Algorithm::EdDSA),
            VerifyError::UnknownKey,
        );
    }
    let no_kid = json!({"alg": "EdDSA", "typ": "at+jwt"});
    rejects(
        &fx,
        &forge(&no_kid, &fx.claims(), &key, Algorithm::EdDSA),
        VerifyError::UnknownKey,
    );
    let kid_number = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": 7});
    rejects(
        &fx,
        &forge(&kid_number, &fx.claims(), &key, Algorithm::EdDSA),
        VerifyError::Malformed,
    );
}

#[test]
fn embedded_jwk_and_key_urls_are_ignored() {
    let fx = Fixture::new(Alg::EdDSA);
    let (record, key) = attacker();
    let attacker_jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
    let headers = [
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": record.kid, "jwk": attacker_jwk}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": record.kid, "jku": "https://evil.test/jwks.json"}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": record.kid, "x5u": "https://evil.test/cert.pem"}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": record.kid, "x5c": ["MIIB"]}),
    ];
    for header in &headers {
        let token = forge(header, &fx.claims(), &key, Algorithm::EdDSA);
        rejects(&fx, &token, VerifyError::UnknownKey);
    }
    // Naming our kid does not help: the attacker's signature does not verify under our key.
    for header in &headers {
        let mut header = header.clone();
        header["kid"] = fx.current().kid.clone().into();
        let token = forge(&header, &fx.claims(), &key, Algorithm::EdDSA);
        rejects(&fx, &token, VerifyError::BadSignature);
    }
}

#[test]
fn crit_header_is_refused_even_when_signed_by_us() {
    let fx = Fixture::new(Alg::EdDSA);
    for crit in [json!(["exp"]), json!([]), Value::Null] {
        let mut header = fx.header();
        header["crit"] = crit;
        rejects(
            &fx,
            &fx.signed_by_us(&header, &fx.claims()),
            VerifyError::CriticalHeader,
        );
    }
}

#[test]
fn wrong_or_missing_typ_is_refused() {
    let fx = Fixture::new(Alg::EdDSA);
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("id_token+jwt"),
        json!(""),
        json!(1),
    ] {
        let mut header = fx.header();
        header["typ"] = typ.clone();
        let expected = if typ.is_string() {
            VerifyError::WrongType
        } else {
            VerifyError::Malformed
        };
        rejects(&fx, &fx.signed_by_us(&header, &fx.claims()), expected);
    }
    let mut header = fx.header();
    header.as_object_mut().unwrap().remove("typ");
    rejects(
        &fx,
        &fx.signed_by_us(&header, &fx.claims()),
        VerifyError::WrongType,
    );
    // The media-type spelling of RFC 9068 is fine.
    header["typ"] = "application/at+jwt".into();
    assert!(fx
        .verifier
        .check(&fx.signed_by_us(&header, &fx.claims()), t0())
        .is_ok());
}

#[test]
fn expiry_and_not_before_honour_the_leeway_only() {
    let fx = Fixture::new(Alg::EdDSA);
    let token = fx.issue(t0());
    let leeway = fx.cfg.leeway;
    let ttl = fx.cfg.access_ttl;
    assert!(fx
        .verifier
        .check(&token, t0() + ttl + leeway - Duration::seconds(1))
        .is_ok());
    assert_eq!(
        fx.verifier.check(&token, t0() + ttl + leeway).unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(
        fx.verifier
            .check(&token, t0() + Duration::days(365))
            .unwrap_err(),
        VerifyError::Expired
    );

    // Clock skew the other way: the verifier is behind the issuer.
    assert!(fx.verifier.check(&token, t0() - leeway).is_ok());
    let early = t0() - leeway - Duration::seconds(1);
    assert_eq!(
        fx.verifier.check(&token, early).unwrap_err(),
        VerifyError::NotYetValid
    );

    let now = t0().unix_timestamp();
    for (claim, value) in [("nbf", now + 31), ("iat", now + 31), ("nbf", now + 86_400)] {
        let mut claims = fx.claims();
        claims[claim] = value.into();
        claims["exp"] = (now + 90_000).into();
        rejects(
            &fx,
            &fx.signed_by_us(&fx.header(), &claims),
            VerifyError::NotYetValid,
        );
    }
    let mut claims = fx.claims();
    claims["nbf"] = (now + 30).into();
    assert!(fx
        .verifier
        .check(&fx.signed_by_us(&fx.header(), &claims), t0())
        .is_ok());
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let fx = Fixture::new(Alg::EdDSA);
    for (claim, value, expected) in [
        (
            "iss",
            json!("https://auth.example.test/"),
            VerifyError::WrongIssuer,
        ),
        ("iss", json!("https://evil.test"), VerifyError::WrongIssuer),
        ("aud", json!("other-api"), VerifyError::WrongAudience),
        // Tessera writes `aud` as one string; an array is not a token we issued.
        ("aud", json!(["other-api"]), VerifyError::InvalidClaims),
        ("aud", json!([AUDIENCE]), VerifyError::InvalidClaims),
    ] {
        let mut claims = fx.claims();
        claims[claim] = value;
        rejects(&fx, &fx.signed_by_us(&fx.header(), &claims), expected);
    }
    // A verifier configured for another audience refuses our genuine tokens.
    let other = Verifier::new(
        KeyRing::from_records(&fx.records, None).unwrap(),
        &tessera_token::TokenConfig {
            audience: "billing".into(),
            ..cfg(Alg::EdDSA)
        },
    );
    assert_eq!(
        other.check(&fx.issue(t0()), t0()).unwrap_err(),
        VerifyError::WrongAudience
    );
}

#[test]
fn missing_or_ill_typed_claims_are_refused() {
    let fx = Fixture::new(Alg::EdDSA);
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "sid",
        "client_id",
    ] {
        let mut claims = fx.claims();
        claims.as_object_mut().unwrap().remove(claim);
        rejects(
            &fx,
            &fx.signed_by_us(&fx.header(), &claims),
            VerifyError::InvalidClaims,
        );
    }
    for (claim, value) in [
        ("sub", json!("alice")),
        ("sid", json!(42)),
        ("exp", json!("2099-01-01")),
        ("exp", json!(1.5e12)),
        ("roles", json!("admin")),
    ] {
        let mut claims = fx.claims();
        claims[claim] = value;
        rejects(
            &fx,
            &fx.signed_by_us(&fx.header(), &claims),
            VerifyError::InvalidClaims,
        );
    }
}

#[test]
fn tampered_signature_or_payload_is_refused() {
    for alg in Alg::ALL {
        let fx = Fixture::new(alg);
        let token = fx.issue(t0());
        let (message, signature) = token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        for byte in [0, sig.len() / 2, sig.len() - 1] {
            sig[byte] ^= 0x01;
            rejects(
                &fx,
                &format!("{message}.{}", b64(&sig)),
                VerifyError::BadSignature,
            );
            sig[byte] ^= 0x01;
        }
        rejects(&fx, &format!("{message}."), VerifyError::BadSignature);

        let (header, payload) = message.split_once('.').unwrap();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["roles"] = json!(["admin", "superuser"]);
        let changed = format!("{header}.{}.{signature}", b64(claims.to_string()));
        rejects(&fx, &changed, VerifyError::BadSignature);
    }
}

#[test]
fn es256_zero_signature_is_refused() {
    let fx = Fixture::new(Alg::ES256);
    let zero = forge_raw(&fx.header(), &fx.claims(), &[0u8; 64]);
    rejects(&fx, &zero, VerifyError::BadSignature);
    // r = 0 with a plausible s, and the DER-encoded form some libraries emit.
    let mut half = [0u8; 64];
    half[63] = 1;
    rejects(
        &fx,
        &forge_raw(&fx.header(), &fx.claims(), &half),
        VerifyError::BadSignature,
    );
    let der_zero = [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00];
    rejects(
        &fx,
        &forge_raw(&fx.header(), &fx.claims(), &der_zero),
        VerifyError::BadSignature,
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let fx = Fixture::new(Alg::EdDSA);
    let valid = fx.issue(t0());
    let header = valid.split('.').next().unwrap().to_owned();
    let huge = "A".repeat(1024 * 1024);
    let just_over = format!("{valid}{}", "A".repeat(MAX_TOKEN_BYTES + 1 - valid.len()));
    let cases: Vec<String> = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b.c".into(),
        "a.b".into(),
        "a.b.c.d.e".into(),
        "!!!.###.$$$".into(),
        "eyJ.eyJ.eyJ".into(),
        format!("{}.e30.", b64("[]")),
        format!("{}.e30.", b64("null")),
        format!("{}.e30.", b64("{}")),
        format!(
            "{}.e30.",
            b64(r#"{"alg":"EdDSA","alg":"none","typ":"at+jwt"}"#)
        ),
        format!("{}.e30.", b64([0xff, 0xfe, 0x00])),
        format!("{header}.%%%.AAAA"),
        format!("{header}.e30.AAAA"),
        format!("{header}.{}.AAAA", b64("not json")),
        format!("{}=.e30.", &header),
        format!("{valid}.{valid}"),
        valid.replace('.', ". "),
        format!(" {valid}"),
        "\u{0}\u{0}\u{0}".into(),
        "é.é.é".into(),
        just_over,
        huge,
    ];
    for case in &cases {
        let got = fx.verifier.check(case, t0());
        assert!(
            got.is_err(),
            "{:?} was accepted",
            &case[..case.len().min(60)]
        );
    }
    assert_eq!(
        fx.verifier
            .check(&cases[cases.len() - 1], t0())
            .unwrap_err(),
        VerifyError::TooLarge
    );
    assert_eq!(
        fx.verifier
            .check(&cases[cases.len() - 2], t0())
            .unwrap_err(),
        VerifyError::TooLarge
    );
}

#[test]
fn hs256_secret_is_never_published() {
    let fx = Fixture::new(Alg::HS256);
    assert_eq!(fx.verifier.ring().jwks(), &json!({"keys": []}));
    let stored: Value = serde_json::from_str(&fx.current().public_jwk).unwrap();
    assert!(stored.get("k").is_none());
    assert!(!fx
        .current()
        .public_jwk
        .contains(&b64(&fx.current().private_key)));
    assert!(fx.verifier.check(&fx.issue(t0()), t0()).is_ok());
}

#[test]
fn tokens_of_a_pruned_key_are_unknown() {
    let fx = Fixture::new(Alg::EdDSA);
    let token = fx.issue(t0());
    let without_current: Vec<_> = fx
        .records
        .iter()
        .filter(|r| r.state != KeyState::Current)
        .cloned()
        .chain([generate_key(Alg::EdDSA, t0(), KeyState::Current, None)])
        .collect();
    fx.verifier
        .replace_ring(KeyRing::from_records(&without_current, None).unwrap());
    rejects(&fx, &token, VerifyError::UnknownKey);
}
