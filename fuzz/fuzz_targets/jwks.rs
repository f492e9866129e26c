//! `KeyRing::from_jwks`: the JWKS document a resource server (`tessera-guard`) fetches and
//! trusts. Invariants: nothing panics; a ring built from a document verifies only, and
//! republishes exactly the keys it kept, each with a kid it answers to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_token::KeyRing;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ring) = KeyRing::from_jwks(&document) else {
        return;
    };
    assert!(ring.current_kid().is_none(), "a JWKS ring must not sign");
    let published = ring.jwks()["keys"].as_array().expect("keys array");
    assert_eq!(published.len(), ring.len());
    for jwk in published {
        let kid = jwk["kid"].as_str().expect("kid");
        assert!(ring.contains(kid));
        let alg = ring.algorithm_of(kid).unwrap();
        assert!(alg.is_asymmetric(), "a JWKS never carries an HMAC key");
        assert_eq!(jwk["alg"].as_str(), Some(alg.as_str()));
    }
    // What it republishes reads back as the same ring.
    let again = KeyRing::from_jwks(ring.jwks()).expect("a ring's own JWKS loads");
    assert_eq!(again.jwks(), ring.jwks());
});
