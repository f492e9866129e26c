//! Second factors through the engine on every backend, with the test clock: the TOTP key is
//! sealed in the store, the login's pending step completes once, a code works once even when
//! two completions race, and the step-up window follows the clock.

use std::sync::Arc;

use secrecy::SecretString;
use tessera_core::factor::SECRET_SEALED;
use tessera_core::store::Store;
use tessera_core::{Clock as _, FactorKind, SessionKind};
use tessera_engine::factors::{self, challenge, Proof};
use tessera_engine::{accounts, credential, sessions, Caller, EngineError, Principal};
use time::Duration;
use totp_rs::TOTP;

use crate::on_every_backend;
use crate::support::{clock, engine, settings};

on_every_backend!(totp_is_sealed_single_use_and_steps_up_with_the_clock);

const PASSWORD: &str = "correct horse battery staple";

async fn principal(engine: &tessera_engine::Engine, secret: &str) -> Principal {
    credential::authenticate(engine, secret, credential::Channel::Header)
        .await
        .unwrap()
        .expect("a live session")
}

async fn totp_is_sealed_single_use_and_steps_up_with_the_clock(store: Arc<dyn Store>) {
    let clock = clock();
    let mut settings = settings("memory://");
    settings.keys.encryption_key = Some(SecretString::from(
        tessera_token::EncryptionKey::generate()
            .to_base64()
            .to_string(),
    ));
    let engine = engine(store.clone(), &clock, settings).await;
    let caller = Caller::local();
    let user = accounts::create_user(&engine, "eng@example.com", PASSWORD, None)
        .await
        .unwrap();
    let login = sessions::login(
        &engine,
        "eng@example.com",
        PASSWORD,
        SessionKind::Header,
        None,
        &caller,
    )
    .await
    .unwrap();
    let p = principal(&engine, login.secret.expose()).await;
    let enrolment = factors::start_totp(&engine, &p, &caller).await.unwrap();
    let app = TOTP::from_url(enrolment.otpauth_uri.as_str()).unwrap();
    let code_at = |steps: i64| {
        app.generate(u64::try_from(clock.now().unix_timestamp() + steps * 30).unwrap())
    };

    // Sealed at rest: the row holds neither the key nor its base32 form.
    let stored = store.factors_of_user(user.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].secret_format, SECRET_SEALED);
    let raw = app.secret.clone();
    assert!(!stored[0]
        .secret
        .windows(raw.len())
        .any(|w| w == raw.as_slice()));

    let codes = factors::confirm_totp(&engine, &p, &code_at(0), &caller)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        factors::methods_of(&engine, user.id).await.unwrap(),
        vec![FactorKind::Totp, FactorKind::RecoveryCode]
    );

    // The password step now yields only a pending step.
    let pending = |engine: Arc<tessera_engine::Engine>| async move {
        match sessions::login(
            &engine,
            "eng@example.com",
            PASSWORD,
            SessionKind::Header,
            None,
            &Caller::local(),
        )
        .await
        {
            Err(EngineError::SecondFactorRequired(c)) => c.token.expose().to_owned(),
            other => panic!("expected a pending step, got {other:?}"),
        }
    };
    let first = pending(engine.clone()).await;
    let second = pending(engine.clone()).await;
    clock.advance(Duration::seconds(30));
    let code = code_at(0);
    // Two completions with the same fresh code at once: one session, not two.
    let racers = [first.clone(), second].map(|token| {
        let engine = engine.clone();
        let code = code.clone();
        tokio::spawn(async move {
            challenge::complete_session_login(
                &engine,
                &token,
                Proof::totp(&code),
                SessionKind::Header,
                &Caller::local(),
            )
            .await
        })
    });
    let mut opened = Vec::new();
    for racer in racers {
        if let Ok(login) = racer.await.unwrap() {
            opened.push(login);
        }
    }
    assert_eq!(opened.len(), 1, "the code's step is used once");
    let strong = &opened[0];
    assert_eq!(strong.session.amr.aal(), 2);
    assert_ne!(strong.session.id, login.session.id);

    // The step-up window follows the clock.
    let sp = principal(&engine, strong.secret.expose()).await;
    factors::require_step_up(&engine, &sp).await.unwrap();
    clock.advance(Duration::minutes(10) + Duration::seconds(1));
    let sp = principal(&engine, strong.secret.expose()).await;
    assert!(matches!(
        factors::require_step_up(&engine, &sp).await,
        Err(EngineError::StepUpRequired)
    ));
    factors::step_up(&engine, &sp, Proof::recovery_code(&codes[0]), &caller)
        .await
        .unwrap();
    factors::require_step_up(&engine, &sp).await.unwrap();
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 9);

    // A pending step is single use, and dies after `mfa.challenge_ttl`.
    clock.advance(Duration::seconds(30));
    let reuse = challenge::complete_session_login(
        &engine,
        &first,
        Proof::totp(&code_at(0)),
        SessionKind::Header,
        &caller,
    )
    .await;
    assert!(matches!(reuse, Err(EngineError::InvalidGrant)), "{reuse:?}");
    let late = pending(engine.clone()).await;
    clock.advance(Duration::minutes(5));
    let expired = challenge::complete_session_login(
        &engine,
        &late,
        Proof::totp(&code_at(0)),
        SessionKind::Header,
        &caller,
    )
    .await;
    assert!(
        matches!(expired, Err(EngineError::InvalidGrant)),
        "{expired:?}"
    );
}
