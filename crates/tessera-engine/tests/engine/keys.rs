//! Signing keys shared by several instances through their store.

use std::sync::Arc;

use tessera_core::store::Store;
use tessera_core::Clock as _;
use tessera_core::{KeyState, SessionId, UserId};
use tessera_engine::credential::{self, Channel};
use tessera_engine::keys;
use tessera_token::{rotation, AccessTokenRequest};

use crate::on_every_backend;
use crate::support::{clock, engine, settings};

on_every_backend!(
    two_instances_starting_at_once_on_an_empty_store_end_with_one_current_key,
    a_rotation_on_one_instance_reaches_another_without_a_restart,
    a_key_removed_from_the_store_stops_verifying_elsewhere_even_for_a_cached_token,
    a_rotation_cut_short_at_any_step_leaves_a_ring_that_signs_and_verifies,
);

fn token(engine: &tessera_engine::Engine) -> String {
    let request = AccessTokenRequest {
        sub: UserId::random(),
        sid: SessionId::random(),
        client_id: "test".into(),
        scope: None,
        roles: Vec::new(),
        claims: serde_json::Map::default(),
        amr: tessera_core::Amr::PASSWORD,
    };
    engine
        .tokens
        .verifier
        .ring()
        .issue(&request, &engine.tokens.cfg, engine.clock.now())
        .expect("the ring signs")
        .token
}

async fn two_instances_starting_at_once_on_an_empty_store_end_with_one_current_key(
    store: Arc<dyn Store>,
) {
    let clock = clock();
    let (a, b) = tokio::join!(
        engine(store.clone(), &clock, settings("memory://")),
        engine(store.clone(), &clock, settings("memory://")),
    );
    let records = store.list_keys().await.unwrap();
    let current: Vec<_> = records
        .iter()
        .filter(|k| k.state == KeyState::Current)
        .collect();
    assert_eq!(
        current.len(),
        1,
        "one current key, not one per instance: {records:?}"
    );
    // Until they reload their rings (every 30 s) each may still sign with the key it created;
    // a token from either is accepted by the other, which reloads on the unknown `kid`.
    for (issuer, checker) in [(&a, &b), (&b, &a)] {
        let presented = token(issuer);
        let principal = credential::authenticate(checker, &presented, Channel::Header)
            .await
            .unwrap();
        assert!(
            principal.is_some(),
            "a token of the other instance is accepted"
        );
    }
    keys::maintain(&a).await;
    keys::maintain(&b).await;
    let kid = current[0].kid.as_str();
    assert_eq!(a.tokens.verifier.ring().current_kid(), Some(kid));
    assert_eq!(b.tokens.verifier.ring().current_kid(), Some(kid));
    let now = clock.now();
    assert!(b.tokens.verifier.check(&token(&a), now).is_ok());
    assert!(a.tokens.verifier.check(&token(&b), now).is_ok());
}

async fn a_rotation_on_one_instance_reaches_another_without_a_restart(store: Arc<dyn Store>) {
    let clock = clock();
    let a = engine(store.clone(), &clock, settings("memory://")).await;
    let b = engine(store.clone(), &clock, settings("memory://")).await;
    let before = token(&a);
    let old_kid = a.tokens.verifier.ring().current_kid().map(str::to_owned);

    keys::rotate(&a, true)
        .await
        .expect("the rotation is stored");
    let new_kid = a.tokens.verifier.ring().current_kid().map(str::to_owned);
    assert_ne!(new_kid, old_kid, "the rotation made another key current");
    // B has not reloaded yet: it still signs with the old key, and does not know A's new next key.
    assert_eq!(
        b.tokens.verifier.ring().current_kid().map(str::to_owned),
        old_kid
    );

    keys::maintain(&b).await;
    assert_eq!(
        b.tokens.verifier.ring().current_kid().map(str::to_owned),
        new_kid,
        "B picked the rotation up from the store"
    );
    let now = clock.now();
    assert!(
        b.tokens.verifier.check(&token(&a), now).is_ok(),
        "A's new tokens verify on B"
    );
    assert!(
        b.tokens.verifier.check(&before, now).is_ok(),
        "a token of the retired key still verifies until it expires"
    );
    let published = |e: &tessera_engine::Engine| {
        e.tokens.verifier.ring().jwks()["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(published(&a), published(&b), "both publish the same JWKS");
}

async fn a_key_removed_from_the_store_stops_verifying_elsewhere_even_for_a_cached_token(
    store: Arc<dyn Store>,
) {
    let clock = clock();
    let a = engine(store.clone(), &clock, settings("memory://")).await;
    let b = engine(store.clone(), &clock, settings("memory://")).await;
    let compromised = token(&a);
    let now = clock.now();
    // Verified once on B, so B holds it in its verified-token cache.
    assert!(b.tokens.verifier.check(&compromised, now).is_ok());
    assert!(b.tokens.verifier.check(&compromised, now).is_ok());

    // An operator replaces a compromised key: rotate past it, then delete it.
    let old_kid = a.tokens.verifier.ring().current_kid().unwrap().to_owned();
    keys::rotate(&a, true).await.unwrap();
    assert!(store.delete_key(&old_kid).await.unwrap());

    keys::maintain(&b).await;
    assert!(
        b.tokens.verifier.check(&compromised, now).is_err(),
        "the reload dropped the cached verification along with the key"
    );
    assert!(b.tokens.verifier.check(&token(&a), now).is_ok());
}

/// A rotation is several store writes, not one transaction. Whichever step a crash stops it
/// after, the next start on that store must sign, accept the tokens signed before, have its
/// tokens accepted by an instance that survived, and be able to finish the rotation.
async fn a_rotation_cut_short_at_any_step_leaves_a_ring_that_signs_and_verifies(
    store: Arc<dyn Store>,
) {
    let clock = clock();
    let survivor = engine(store.clone(), &clock, settings("memory://")).await;
    let records = store.list_keys().await.unwrap();
    let plan = rotation::plan_rotation(
        &records,
        &survivor.tokens.cfg,
        clock.now(),
        survivor.tokens.encryption_key.as_ref(),
    );
    assert!(plan.len() >= 3, "a rotation is several writes: {plan:?}");
    // Each cut gets the keys as they were before the rotation began.
    for cut in 0..=plan.len() {
        for record in store.list_keys().await.unwrap() {
            store.delete_key(&record.kid).await.unwrap();
        }
        for record in &records {
            store.insert_key(record).await.unwrap();
        }
        keys::maintain(&survivor).await;
        let before = token(&survivor);

        rotation::persist(store.as_ref(), &plan[..cut])
            .await
            .unwrap_or_else(|e| panic!("cut after {cut} steps: {e:?}"));
        let restarted = engine(store.clone(), &clock, settings("memory://")).await;
        let now = clock.now();
        assert!(
            restarted.tokens.verifier.ring().current_kid().is_some(),
            "cut after {cut} steps: the restarted instance has a signing key"
        );
        assert!(
            restarted.tokens.verifier.check(&before, now).is_ok(),
            "cut after {cut} steps: a token signed before the crash still verifies"
        );
        let principal = credential::authenticate(&survivor, &token(&restarted), Channel::Header)
            .await
            .unwrap();
        assert!(
            principal.is_some(),
            "cut after {cut} steps: the survivor accepts the restarted instance's tokens"
        );

        keys::rotate(&restarted, true)
            .await
            .unwrap_or_else(|e| panic!("cut after {cut} steps: the next rotation fails: {e}"));
        let after = store.list_keys().await.unwrap();
        let current = after
            .iter()
            .filter(|k| k.state == KeyState::Current)
            .count();
        assert_eq!(current, 1, "cut after {cut} steps: {after:?}");
        assert!(
            restarted.tokens.verifier.check(&before, now).is_ok(),
            "cut after {cut} steps: the old token outlives the finishing rotation"
        );
    }
}
