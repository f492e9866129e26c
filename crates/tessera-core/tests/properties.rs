//! Property tests of the core rules: session lifetimes against a model driven by a test clock,
//! and the normalisation invariants of `Email` and `Password`.

use proptest::prelude::*;
use tessera_core::session::{ClientInfo, SessionLifetimes};
use tessera_core::types::{Password, PasswordPolicy};
use tessera_core::{Clock, Email, SessionKind, TestClock, TokenHash, UserId};
use time::Duration;
use unicode_normalization::UnicodeNormalization;

proptest! {
    // Failures are reported with their minimal input; nothing is written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// A session checked at random moments, its activity written back as the server does:
    /// never alive after the model says it died (idle since the last accepted request, or past
    /// the absolute lifetime), and never dead while the model has it more than the write
    /// coalescing granularity (a tenth of the idle timeout) away from idling out.
    #[test]
    fn session_lifetimes_follow_the_model(
        idle_minutes in 1i64..60,
        absolute_minutes in 60i64..600,
        gaps in prop::collection::vec(0i64..4_000, 1..60),
    ) {
        let lifetimes = SessionLifetimes {
            idle: Duration::minutes(idle_minutes),
            absolute: Duration::minutes(absolute_minutes),
        };
        let granularity = (lifetimes.idle / 10_i32).max(Duration::SECOND);
        let clock = TestClock::starting_now();
        let opened = clock.now();
        let mut session = lifetimes.open(
            UserId::random(),
            SessionKind::Cookie,
            TokenHash::of("secret"),
            ClientInfo::default(),
            opened,
        );
        let mut last_accepted = opened;
        for gap in gaps {
            clock.advance(Duration::seconds(gap));
            let now = clock.now();
            let live = SessionLifetimes::is_live(&session, now);
            let model_live =
                now - last_accepted < lifetimes.idle && now < opened + lifetimes.absolute;
            prop_assert!(!live || model_live, "alive at {} after the model's end", now - opened);
            let safely_inside = now - last_accepted < lifetimes.idle - granularity
                && now < opened + lifetimes.absolute;
            prop_assert!(live || !safely_inside, "dead at {} while clearly alive", now - opened);
            if !live {
                break;
            }
            last_accepted = now;
            if let Some(touch) = lifetimes.touch(&session, now) {
                touch.apply(&mut session);
            }
            prop_assert!(session.idle_expires_at <= session.expires_at);
        }
    }

    /// Parsing is a normalisation: its output parses to itself, is trimmed, lower-case and NFC,
    /// and every composition variant of an address, and every case variant of an ASCII one, is
    /// the same address. (Not every Unicode case variant: `ß` upper-cases to `SS` and `ı` to
    /// `I`, which are other mailboxes — the property test found that the first version of this
    /// property was wrong, not the code.)
    #[test]
    fn email_parsing_is_a_normalisation(
        local in "[a-zA-Z0-9._+-]{1,12}|[a-zA-ZéÉøØßİıǅ\u{301}\u{308}]{1,12}",
        domain in "[a-zA-Z0-9-]{1,12}\\.[a-zA-Z]{2,6}",
        padding in "[ \t]{0,2}",
    ) {
        let raw = format!("{padding}{local}@{domain}{padding}");
        let Ok(email) = Email::parse(&raw) else {
            return Ok(());
        };
        let text = email.as_str();
        let again = Email::parse(text);
        prop_assert_eq!(again.as_ref().map(Email::as_str), Ok(text));
        prop_assert_eq!(text, text.trim());
        prop_assert_eq!(text.to_lowercase(), text);
        prop_assert_eq!(text.nfc().collect::<String>(), text);
        let mut variants: Vec<String> = vec![raw.nfd().collect(), raw.nfc().collect()];
        if raw.is_ascii() {
            variants.push(raw.to_uppercase());
        }
        for variant in variants {
            if let Ok(other) = Email::parse(&variant) {
                prop_assert_eq!(other.as_str(), text, "{:?} and {:?}", variant, raw);
            }
        }
    }

    /// The same password typed with composed or decomposed characters is the same password, and
    /// the policy counts characters after normalisation.
    #[test]
    fn passwords_are_compared_after_nfkc(raw in "[a-zA-Zé\u{301}ﬁ①Ａ-Ｚ0-9 ]{1,40}") {
        let composed: String = raw.nfc().collect();
        let decomposed: String = raw.nfd().collect();
        let typed = Password::for_login(&composed).unwrap();
        let other = Password::for_login(&decomposed).unwrap();
        prop_assert_eq!(typed.expose(), other.expose());
        let owner = Email::parse("owner@example.com").unwrap();
        let policy = PasswordPolicy::new(8, Vec::<String>::new());
        let counted = raw.nfkc().count();
        // Within the length bounds a refusal may have other reasons (the list, one repeated
        // character, the email); an acceptance always means the bounds held.
        if let Ok(password) = Password::new(&raw, &policy, &owner) {
            prop_assert!((8..=128).contains(&counted));
            prop_assert_eq!(password.expose(), typed.expose());
        }
        if counted < 8 {
            prop_assert!(Password::new(&raw, &policy, &owner).is_err());
        }
    }
}
