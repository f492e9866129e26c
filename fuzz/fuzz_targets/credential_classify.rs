//! `Presented::classify`, `SecretToken::parse` and the `Email`/`Password` newtypes on arbitrary
//! strings. Invariants: nothing panics; a secret is recognised only in the exact shape the
//! server issues, and keeps its text; e-mail normalisation is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::types::PasswordPolicy;
use tessera_core::{Email, Password, Presented, SecretToken, TokenKind};

fn issued_shape(text: &str, kind: TokenKind) -> bool {
    let Some(body) = text.strip_prefix(kind.prefix()) else {
        return false;
    };
    body.len() == 43
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fuzz_target!(|text: &str| {
    match Presented::classify(text) {
        Presented::SessionSecret(s) => {
            assert_eq!(s.kind(), TokenKind::Session);
            assert_eq!(s.expose(), text);
            assert!(issued_shape(text, TokenKind::Session));
        }
        Presented::RefreshToken(s) => {
            assert_eq!(s.kind(), TokenKind::Refresh);
            assert_eq!(s.expose(), text);
            assert!(issued_shape(text, TokenKind::Refresh));
        }
        Presented::AccessToken(t) => {
            assert_eq!(t, text);
            assert_eq!(text.matches('.').count(), 2);
            assert!(!text.starts_with("tss_") && !text.starts_with("tsr_"));
        }
        Presented::Unrecognised => {}
    }
    for kind in [
        TokenKind::Session,
        TokenKind::Refresh,
        TokenKind::ClientSecret,
        TokenKind::AdminKey,
    ] {
        if let Some(secret) = SecretToken::parse(kind, text) {
            assert!(issued_shape(text, kind), "{kind:?} accepted {text:?}");
            assert_eq!(secret.hash(), tessera_core::TokenHash::of(text));
        }
    }

    if let Ok(email) = Email::parse(text) {
        let again = Email::parse(email.as_str()).expect("a normalised address parses again");
        assert_eq!(again, email, "e-mail normalisation is not idempotent");
    }
    if let Ok(password) = Password::for_login(text) {
        // NFKC may lengthen the text past the login cap, so only a second success is compared.
        if let Ok(again) = Password::for_login(password.expose()) {
            assert_eq!(
                again.expose(),
                password.expose(),
                "NFKC is not idempotent here"
            );
        }
    }
    let owner = Email::parse("owner@example.com").unwrap();
    let _ = Password::new(text, &PasswordPolicy::default(), &owner);
});
