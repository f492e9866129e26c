//! The CSRF decoders: the session CSRF token check (`csrf::require_token`), the provenance
//! headers check (`csrf::is_cross_origin`: Origin, Sec-Fetch-Site, Referer) and the login-form
//! CSRF cookie (`nonce.unix_seconds`). Invariants: nothing panics; a token is accepted exactly
//! when it is the session's; a request is same-origin only when its first provenance header
//! names this origin; a login cookie decodes only in the issued shape.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tessera_core::SessionId;
use tessera_server::config::public_origin;
use tessera_server::csrf::{is_cross_origin, require_token, token_for};
use tessera_server::fuzzing::{login_csrf_fresh, login_csrf_issued_at};
use uuid::Uuid;

const OWN: &str = "https://auth.example.com";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    session: [u8; 16],
    secret: [u8; 32],
    /// `None`: present the real token with this many bytes changed at the front.
    presented: Option<&'a str>,
    tamper: u8,
    origin: Option<&'a [u8]>,
    fetch_site: Option<&'a [u8]>,
    referer: Option<&'a [u8]>,
    login_cookie: &'a str,
    /// The server clock: any second up to 2106.
    now: u32,
}

fuzz_target!(|input: Input<'_>| {
    let session = SessionId(Uuid::from_bytes(input.session));
    let expected = token_for(&input.secret, session);
    let presented = match input.presented {
        Some(p) => p.to_owned(),
        None => {
            let mut bytes = expected.clone().into_bytes();
            for b in bytes.iter_mut().take(usize::from(input.tamper % 4)) {
                *b = if *b == b'A' { b'B' } else { b'A' };
            }
            String::from_utf8(bytes).unwrap()
        }
    };
    assert_eq!(
        require_token(&input.secret, session, Some(&presented)).is_ok(),
        presented == expected
    );
    assert!(require_token(&input.secret, session, None).is_err());

    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in [
        ("origin", input.origin),
        ("sec-fetch-site", input.fetch_site),
        ("referer", input.referer),
    ] {
        if let Some(v) = value.and_then(|v| axum::http::HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, v);
        }
    }
    if !is_cross_origin(&headers, OWN) {
        let first = ["origin", "sec-fetch-site", "referer"]
            .into_iter()
            .find_map(|n| headers.get(n).map(|v| (n, v)));
        if let Some((name, value)) = first {
            let text = value
                .to_str()
                .expect("a same-origin verdict from a non-text header");
            match name {
                "sec-fetch-site" => assert!(text == "same-origin" || text == "none"),
                _ => assert_eq!(public_origin(text).as_deref(), Some(OWN)),
            }
        }
    }

    if let Some(at) = login_csrf_issued_at(input.login_cookie) {
        let (nonce, digits) = input.login_cookie.split_once('.').unwrap();
        assert_eq!(nonce.len(), 43);
        assert_eq!(digits.parse::<i64>().ok(), Some(at));
        let _ = login_csrf_fresh(i64::from(input.now), at);
    }
});
