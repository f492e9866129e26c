//! The token crate's attack corpus (crates/tessera-token/tests/attacks.rs), aimed at a guard
//! that trusts a real server: every token is refused, most of them signed correctly by *some*
//! key so that what is tested is the rule. Built with the token crate's own forge.

#[allow(unused_imports)]
#[path = "../../../tessera-token/tests/common/mod.rs"]
mod token_common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_core::TestClock;
use tessera_guard::{Guard, GuardError};
use tessera_token::{AccessTokenRequest, Alg, MAX_TOKEN_BYTES};
use time::Duration;
use token_common::{b64, encoding_key, forge, forge_raw, Fixture};

use crate::support::{call, guard_config, guarded_service, spawn_instance, start_guard, Instance};

async fn refused(guard: &Guard, token: &str, what: &str) {
    match guard.verify_token(token).await {
        Err(GuardError::Invalid(_)) => {}
        other => panic!("{what}: {other:?}"),
    }
}

/// A token the server's current key signs with `cfg` at `now`.
fn issued(app: &Instance, cfg: &tessera_token::TokenConfig, now: time::OffsetDateTime) -> String {
    let request = AccessTokenRequest {
        sub: tessera_core::UserId::random(),
        sid: tessera_core::SessionId::random(),
        client_id: "first-party".into(),
        scope: None,
        roles: Vec::new(),
        claims: serde_json::Map::new(),
        amr: tessera_core::Amr::PASSWORD,
    };
    tessera_engine::keys::jwks(&app.state)
        .issue(&request, cfg, now)
        .unwrap()
        .token
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_attack_corpus_is_refused() {
    let app = spawn_instance("memory://", TestClock::starting_now()).await;
    let client = app.client().await;
    let guard = start_guard(guard_config(&[&app], &client)).await;
    let cfg = app.state.tokens.cfg.clone();
    let now = app.state.clock.now();
    let genuine = issued(&app, &cfg, now);
    assert!(guard.verify_token(&genuine).await.is_ok());

    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    let kid = jwk["kid"].as_str().unwrap();
    let claims = claims_of(&genuine);
    let genuine_sig = genuine.rsplit('.').next().unwrap();
    let attacker = Fixture::new(Alg::EdDSA);
    let attacker_key = encoding_key(attacker.current());

    for none in ["none", "None", "NONE"] {
        let header = json!({"alg": none, "typ": "at+jwt", "kid": kid});
        refused(&guard, &forge_raw(&header, &claims, b""), "alg none").await;
        let with_sig = format!(
            "{}.{}.{genuine_sig}",
            b64(header.to_string()),
            b64(claims.to_string())
        );
        refused(&guard, &with_sig, "alg none with the genuine signature").await;
    }

    // HS256 keyed with the published public key: the classic confusion.
    let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    for secret in [public.as_slice(), jwk["x"].as_str().unwrap().as_bytes()] {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        let token = forge(
            &header,
            &claims,
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        );
        refused(&guard, &token, "HS256 keyed with the public key").await;
    }

    // Signed by an attacker's key: under our kid, an unknown kid, and with the key (or a URL
    // to it) embedded in the header.
    let attacker_jwk: Value = serde_json::from_str(&attacker.current().public_jwk).unwrap();
    for header in [
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": attacker.current().kid}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../etc/passwd"}),
        json!({"alg": "EdDSA", "typ": "at+jwt"}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jwk": attacker_jwk}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jku": "https://evil.test/jwks"}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "x5u": "https://evil.test/x5"}),
    ] {
        let token = forge(&header, &claims, &attacker_key, Algorithm::EdDSA);
        refused(&guard, &token, &format!("attacker-signed {header}")).await;
    }

    // Header rules, with our genuine signature bytes over a different header.
    for header in [
        json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
        json!({"alg": "EdDSA", "kid": kid}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "crit": ["exp"]}),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
    ] {
        let token = format!(
            "{}.{}.{genuine_sig}",
            b64(header.to_string()),
            b64(claims.to_string())
        );
        refused(&guard, &token, &format!("header {header}")).await;
    }

    // Signed by the server's real key, but with claims the rules refuse.
    let mut other_issuer = cfg.clone();
    other_issuer.issuer = "https://evil.test".into();
    let mut other_audience = cfg.clone();
    other_audience.audience = "another-api".into();
    for (what, token) in [
        ("expired", issued(&app, &cfg, now - Duration::hours(1))),
        (
            "not yet valid",
            issued(&app, &cfg, now + Duration::hours(1)),
        ),
        ("wrong issuer", issued(&app, &other_issuer, now)),
        ("wrong audience", issued(&app, &other_audience, now)),
    ] {
        refused(&guard, &token, what).await;
    }

    // Tampered payload under the genuine signature.
    let mut tampered = claims.clone();
    tampered["sub"] = json!(tessera_core::UserId::random());
    let parts: Vec<&str> = genuine.split('.').collect();
    let token = format!("{}.{}.{}", parts[0], b64(tampered.to_string()), parts[2]);
    refused(&guard, &token, "tampered payload").await;
    let mut flipped = genuine.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    refused(&guard, &flipped, "tampered signature").await;

    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    for garbage in ["", ".", "..", "a.b.c", "eyJ.eyJ.", "a.b.c.d", huge.as_str()] {
        refused(&guard, garbage, "garbage").await;
    }

    // And through the layer: a 401 with the RFC 6750 challenge.
    let service = guarded_service(guard).await;
    let (status, challenge) = call(&service, &flipped).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"tessera\", error=\"invalid_token\"")
    );
    assert_eq!(call(&service, &genuine).await.0, StatusCode::OK);
}
