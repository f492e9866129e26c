//! Cases for [`FactorStore`](tessera_core::store::FactorStore): factors, recovery codes, pending
//! login steps, and the `amr`/`factor_at` a session carries.

use std::sync::Arc;

use tessera_core::factor::{
    Amr, AuthnMethod, ChallengePurpose, Factor, FactorKind, MfaChallenge, SECRET_SEALED,
};
use tessera_core::store::Store;
use tessera_core::{Scope, TokenHash};
use time::Duration;
use uuid::Uuid;

use super::support::{assert_conflict, at, random_hash, stored_session, stored_user};

fn totp(user: &tessera_core::User, secret: &[u8]) -> Factor {
    Factor {
        id: Uuid::new_v4(),
        user_id: user.id,
        kind: FactorKind::Totp,
        secret: secret.to_vec(),
        secret_format: SECRET_SEALED,
        confirmed_at: None,
        last_step: None,
        created_at: at(Duration::ZERO),
    }
}

pub async fn factor_enrol_confirm_and_replace(store: Arc<dyn Store>) {
    let user = stored_user(&store).await;
    let first = totp(&user, b"first");
    store.put_factor(&first).await.unwrap();
    // An unconfirmed factor is replaced by a new enrolment.
    let second = totp(&user, b"second");
    store.put_factor(&second).await.unwrap();
    let listed = store.factors_of_user(user.id).await.unwrap();
    assert_eq!(listed, vec![second.clone()]);
    assert!(store
        .confirm_factor(second.id, at(Duration::SECOND))
        .await
        .unwrap());
    assert!(
        !store
            .confirm_factor(second.id, at(Duration::SECOND))
            .await
            .unwrap(),
        "confirms once"
    );
    assert_eq!(
        store.factors_of_user(user.id).await.unwrap()[0].confirmed_at,
        Some(at(Duration::SECOND))
    );
    // A confirmed one is not replaced.
    assert_conflict(
        store.put_factor(&totp(&user, b"third")).await,
        "enrolment over a confirmed factor",
    );
    let stranger = tessera_core::UserId::random();
    let mut orphan = totp(&user, b"x");
    orphan.user_id = stranger;
    assert_conflict(store.put_factor(&orphan).await, "factor of a missing user");
    // Other users' factors are untouched by deletes.
    let other = stored_user(&store).await;
    store.put_factor(&totp(&other, b"o")).await.unwrap();
    assert_eq!(
        store
            .delete_factors(user.id, Some(FactorKind::Totp))
            .await
            .unwrap(),
        1
    );
    assert!(store.factors_of_user(user.id).await.unwrap().is_empty());
    assert_eq!(store.factors_of_user(other.id).await.unwrap().len(), 1);
    assert_eq!(store.delete_factors(other.id, None).await.unwrap(), 1);
}

pub async fn factor_step_only_moves_forward(store: Arc<dyn Store>) {
    let user = stored_user(&store).await;
    let factor = totp(&user, b"s");
    store.put_factor(&factor).await.unwrap();
    assert!(store.advance_factor_step(factor.id, 100).await.unwrap());
    assert!(
        !store.advance_factor_step(factor.id, 100).await.unwrap(),
        "replay"
    );
    assert!(
        !store.advance_factor_step(factor.id, 99).await.unwrap(),
        "older step"
    );
    assert!(store.advance_factor_step(factor.id, 101).await.unwrap());
    assert_eq!(
        store.factors_of_user(user.id).await.unwrap()[0].last_step,
        Some(101)
    );
    assert!(!store.advance_factor_step(Uuid::new_v4(), 1).await.unwrap());
    // Of concurrent uses of one step, exactly one wins.
    let racers = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.advance_factor_step(factor.id, 200).await.unwrap() })
    });
    let mut wins = 0;
    for racer in racers {
        wins += usize::from(racer.await.unwrap());
    }
    assert_eq!(wins, 1);
}

pub async fn recovery_codes_spend_once_and_replace(store: Arc<dyn Store>) {
    let user = stored_user(&store).await;
    let other = stored_user(&store).await;
    let codes: Vec<TokenHash> = (0..10).map(|_| random_hash()).collect();
    store
        .replace_recovery_codes(user.id, &codes, at(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 10);
    assert!(
        !store
            .spend_recovery_code(other.id, &codes[0], at(Duration::SECOND))
            .await
            .unwrap(),
        "another user's code"
    );
    assert!(store
        .spend_recovery_code(user.id, &codes[0], at(Duration::SECOND))
        .await
        .unwrap());
    assert!(!store
        .spend_recovery_code(user.id, &codes[0], at(Duration::SECOND))
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 9);
    let fresh = vec![random_hash(), random_hash()];
    store
        .replace_recovery_codes(user.id, &fresh, at(Duration::MINUTE))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 2);
    assert!(
        !store
            .spend_recovery_code(user.id, &codes[1], at(Duration::MINUTE))
            .await
            .unwrap(),
        "replaced codes are gone"
    );
    store
        .replace_recovery_codes(user.id, &[], at(Duration::MINUTE))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 0);
}

pub async fn mfa_challenge_round_trip_and_single_use(store: Arc<dyn Store>) {
    let user = stored_user(&store).await;
    let scope = Scope::parse("read write").unwrap();
    let challenges = [
        ChallengePurpose::Session,
        ChallengePurpose::Token {
            client_id: "app".into(),
            scope,
        },
        ChallengePurpose::Token {
            client_id: "cli".into(),
            scope: None,
        },
    ]
    .map(|purpose| MfaChallenge {
        id: Uuid::new_v4(),
        user_id: user.id,
        token_hash: random_hash(),
        purpose,
        created_at: at(Duration::ZERO),
        expires_at: at(Duration::minutes(5)),
        used_at: None,
    });
    for challenge in &challenges {
        store.insert_mfa_challenge(challenge).await.unwrap();
        assert_eq!(
            store
                .mfa_challenge_by_hash(&challenge.token_hash)
                .await
                .unwrap()
                .as_ref(),
            Some(challenge)
        );
    }
    assert_conflict(
        store.insert_mfa_challenge(&challenges[0]).await,
        "same challenge twice",
    );
    assert_eq!(
        store.mfa_challenge_by_hash(&random_hash()).await.unwrap(),
        None
    );
    let first = &challenges[0];
    assert!(store
        .spend_mfa_challenge(first.id, at(Duration::MINUTE))
        .await
        .unwrap());
    assert!(!store
        .spend_mfa_challenge(first.id, at(Duration::MINUTE))
        .await
        .unwrap());
    assert_eq!(
        store
            .mfa_challenge_by_hash(&first.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(Duration::MINUTE))
    );
    assert_eq!(
        store
            .sweep_mfa_challenges(at(Duration::minutes(6)))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .mfa_challenge_by_hash(&challenges[1].token_hash)
            .await
            .unwrap(),
        None
    );
}

pub async fn session_amr_and_factor_time(store: Arc<dyn Store>) {
    let user = stored_user(&store).await;
    let mut session = super::support::session(&user, at(Duration::ZERO));
    let mfa = Amr::PASSWORD.with(AuthnMethod::Otp);
    session.amr = mfa;
    session.factor_at = Some(at(Duration::ZERO));
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.session_by_id(session.id).await.unwrap().unwrap(),
        session
    );
    let plain = stored_session(&store, &user, at(Duration::ZERO)).await;
    let read = store.session_by_id(plain.id).await.unwrap().unwrap();
    assert_eq!((read.amr, read.factor_at), (Amr::PASSWORD, None));
    assert!(store
        .set_session_factor(plain.id, mfa, at(Duration::MINUTE))
        .await
        .unwrap());
    let read = store
        .session_by_secret_hash(&plain.secret_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.amr, read.factor_at),
        (mfa, Some(at(Duration::MINUTE)))
    );
    store
        .revoke_session(plain.id, at(Duration::MINUTE))
        .await
        .unwrap();
    assert!(
        !store
            .set_session_factor(plain.id, mfa, at(Duration::MINUTE))
            .await
            .unwrap(),
        "a revoked session is not stepped up"
    );
}
