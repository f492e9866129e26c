//! The refresh-token decoder of `POST /v1/token` (`SecretToken::parse` for `tsr_`, as the grant
//! and the refresh cookie use it) and the `Authorization: Basic` client credentials beside it.
//! Invariants: nothing panics; a refresh token is accepted only in the issued shape and only
//! as a refresh token; its successor derivation yields a token that parses again; Basic
//! credentials decode to what was encoded.
#![no_main]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tessera_core::{SecretToken, TokenKind};
use tessera_server::fuzzing::basic_credentials;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(token) = SecretToken::parse(TokenKind::Refresh, &text) {
        let body = &text["tsr_".len()..];
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .expect("accepted body is base64url");
        assert_eq!(raw.len(), 32);
        // One spelling per secret: another spelling would be another hash, another token.
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&raw),
            body,
            "non-canonical refresh token accepted"
        );
        for other in [
            TokenKind::Session,
            TokenKind::ClientSecret,
            TokenKind::AdminKey,
        ] {
            assert!(SecretToken::parse(other, &text).is_none());
        }
        let successor = SecretToken::derive(TokenKind::Refresh, &[7; 32], &token);
        assert!(SecretToken::parse(TokenKind::Refresh, successor.expose()).is_some());
        assert_ne!(successor.expose(), token.expose());
    }

    // The raw input as a Basic header value, and as the two parts of one.
    let headers = tessera_fuzz::headers("authorization", [data]);
    let _ = basic_credentials(&headers);
    if let Some(colon) = data.iter().position(|&b| b == b':') {
        let (id, secret) = (&data[..colon], &data[colon + 1..]);
        let (Ok(id), Ok(secret)) = (std::str::from_utf8(id), std::str::from_utf8(secret)) else {
            return;
        };
        let escape = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let value = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", escape(id), escape(secret)))
        );
        let headers = tessera_fuzz::headers("authorization", [value.as_bytes()]);
        assert_eq!(
            basic_credentials(&headers),
            Some((id.to_owned(), secret.to_owned())),
            "Basic credentials do not round-trip"
        );
    }
});
