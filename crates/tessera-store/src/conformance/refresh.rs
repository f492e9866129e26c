//! RefreshStore cases, including the concurrent spend race.

use std::sync::Arc;

use tessera_core::model::{RefreshToken, SpendOutcome};
use tessera_core::store::Store;
use tessera_core::SessionId;
use time::Duration;
use uuid::Uuid;

use super::support::{
    assert_conflict, at, random_hash, refresh, session, stored_family, stored_refresh,
    stored_session, stored_user,
};

pub async fn refresh_insert_and_lookup(store: Arc<dyn Store>) {
    let (_, s, token) = stored_family(&store).await;

    let by_hash = store
        .refresh_by_hash(&token.token_hash)
        .await
        .expect("by hash");
    assert_eq!(by_hash.as_ref(), Some(&token));
    let by_id = store.refresh_by_id(token.id).await.expect("by id");
    assert_eq!(by_id.as_ref(), Some(&token));
    assert_eq!(
        store
            .refresh_by_hash(&random_hash())
            .await
            .expect("by hash"),
        None
    );
    assert_eq!(
        store.refresh_by_id(Uuid::new_v4()).await.expect("by id"),
        None
    );

    let mut same_hash = refresh(&s, token.family_id);
    same_hash.token_hash = token.token_hash;
    assert_conflict(store.insert_refresh(&same_hash).await, "same token hash");
    let mut same_id = refresh(&s, token.family_id);
    same_id.id = token.id;
    assert_conflict(store.insert_refresh(&same_id).await, "same token id");

    let alice = stored_user(&store).await;
    let unsaved = session(&alice, at(Duration::ZERO));
    let orphan = refresh(&unsaved, Uuid::new_v4());
    assert_conflict(store.insert_refresh(&orphan).await, "unknown session");
    assert_eq!(store.refresh_by_id(orphan.id).await.expect("by id"), None);
}

/// The successor a rotation of `old` at `offset` would insert.
fn successor_of(old: &RefreshToken, offset: Duration) -> RefreshToken {
    RefreshToken {
        id: Uuid::new_v4(),
        token_hash: random_hash(),
        created_at: at(offset),
        expires_at: old.expires_at,
        used_at: None,
        successor_id: None,
        revoked_at: None,
        ..old.clone()
    }
}

pub async fn refresh_spend_rotates_once(store: Arc<dyn Store>) {
    let (_, _, token) = stored_family(&store).await;
    let spent_at = at(Duration::minutes(5));
    let next = successor_of(&token, Duration::minutes(5));

    let outcome = store
        .spend_refresh(token.id, spent_at, &next)
        .await
        .expect("spend");
    assert_eq!(outcome, SpendOutcome::Rotated);

    let old = store
        .refresh_by_id(token.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(old.used_at, Some(spent_at));
    assert_eq!(old.successor_id, Some(next.id));
    assert_eq!(old.revoked_at, None);
    assert_eq!(
        store.refresh_by_hash(&next.token_hash).await.expect("get"),
        Some(next.clone())
    );

    // A second presenter loses and is shown the row as the winner left it.
    let late = successor_of(&token, Duration::minutes(6));
    let again = store
        .spend_refresh(token.id, at(Duration::minutes(6)), &late)
        .await
        .expect("spend again");
    assert_eq!(again, SpendOutcome::AlreadySpent(old));
    assert_eq!(store.refresh_by_id(late.id).await.expect("get"), None);

    // The successor is itself spendable.
    let third = successor_of(&next, Duration::minutes(7));
    assert_eq!(
        store
            .spend_refresh(next.id, at(Duration::minutes(7)), &third)
            .await
            .expect("spend successor"),
        SpendOutcome::Rotated
    );
}

pub async fn refresh_spend_unknown_is_not_found(store: Arc<dyn Store>) {
    let (_, _, token) = stored_family(&store).await;
    let next = successor_of(&token, Duration::minutes(1));
    let outcome = store
        .spend_refresh(Uuid::new_v4(), at(Duration::minutes(1)), &next)
        .await
        .expect("spend");
    assert_eq!(outcome, SpendOutcome::NotFound);
    assert_eq!(store.refresh_by_id(next.id).await.expect("get"), None);
    let untouched = store.refresh_by_id(token.id).await.expect("get");
    assert_eq!(untouched, Some(token));
}

pub async fn refresh_revoked_cannot_be_spent(store: Arc<dyn Store>) {
    let (_, _, token) = stored_family(&store).await;
    let revoked_at = at(Duration::minutes(1));
    assert_eq!(
        store
            .revoke_refresh_family(token.family_id, revoked_at)
            .await
            .expect("revoke"),
        1
    );
    let next = successor_of(&token, Duration::minutes(2));
    let outcome = store
        .spend_refresh(token.id, at(Duration::minutes(2)), &next)
        .await
        .expect("spend");
    let SpendOutcome::AlreadySpent(row) = outcome else {
        panic!("a revoked token must not rotate, got {outcome:?}");
    };
    assert_eq!(row.revoked_at, Some(revoked_at));
    assert_eq!(row.used_at, None);
    assert_eq!(row.successor_id, None);
    assert_eq!(store.refresh_by_id(next.id).await.expect("get"), None);
}

pub async fn refresh_failed_successor_leaves_token_unspent(store: Arc<dyn Store>) {
    let (_, s, token) = stored_family(&store).await;
    let other = stored_refresh(&store, &s, Uuid::new_v4()).await;
    // A successor whose hash is taken cannot be inserted, so the spend must not happen either.
    let mut clash = successor_of(&token, Duration::minutes(1));
    clash.token_hash = other.token_hash;
    assert_conflict(
        store
            .spend_refresh(token.id, at(Duration::minutes(1)), &clash)
            .await,
        "successor with a taken hash",
    );
    assert_eq!(
        store.refresh_by_id(token.id).await.expect("get"),
        Some(token.clone()),
        "the spend was rolled back"
    );
    let next = successor_of(&token, Duration::minutes(2));
    assert_eq!(
        store
            .spend_refresh(token.id, at(Duration::minutes(2)), &next)
            .await
            .expect("spend"),
        SpendOutcome::Rotated
    );
}

pub async fn refresh_revoke_family(store: Arc<dyn Store>) {
    let (alice, s, first) = stored_family(&store).await;
    let second = stored_refresh(&store, &s, first.family_id).await;
    let other_family = stored_refresh(&store, &s, Uuid::new_v4()).await;
    // A family member revoked earlier, through its own session.
    let s2 = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let already = stored_refresh(&store, &s2, first.family_id).await;
    let already_at = at(Duration::minutes(1));
    assert_eq!(
        store
            .revoke_refresh_of_session(s2.id, already_at)
            .await
            .expect("revoke one"),
        1
    );

    let now = at(Duration::minutes(2));
    assert_eq!(
        store
            .revoke_refresh_family(first.family_id, now)
            .await
            .expect("revoke"),
        2,
        "only newly revoked tokens count"
    );
    assert_eq!(
        store
            .revoke_refresh_family(first.family_id, at(Duration::minutes(3)))
            .await
            .expect("revoke again"),
        0
    );
    for token in [&first, &second] {
        let row = store
            .refresh_by_id(token.id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(row.revoked_at, Some(now));
    }
    let row = store
        .refresh_by_id(already.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        row.revoked_at,
        Some(already_at),
        "the first revocation time stays"
    );
    assert_eq!(
        store.refresh_by_id(other_family.id).await.expect("get"),
        Some(other_family)
    );
    assert_eq!(
        store
            .revoke_refresh_family(Uuid::new_v4(), now)
            .await
            .expect("revoke unknown"),
        0
    );
}

pub async fn refresh_revoke_of_session(store: Arc<dyn Store>) {
    let (alice, s1, a) = stored_family(&store).await;
    let b = stored_refresh(&store, &s1, Uuid::new_v4()).await;
    let s2 = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let c = stored_refresh(&store, &s2, a.family_id).await;

    let now = at(Duration::minutes(3));
    assert_eq!(
        store
            .revoke_refresh_of_session(s1.id, now)
            .await
            .expect("revoke"),
        2
    );
    assert_eq!(
        store
            .revoke_refresh_of_session(s1.id, at(Duration::minutes(4)))
            .await
            .expect("revoke again"),
        0
    );
    for token in [&a, &b] {
        let row = store
            .refresh_by_id(token.id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(row.revoked_at, Some(now));
    }
    assert_eq!(store.refresh_by_id(c.id).await.expect("get"), Some(c));
    assert_eq!(
        store
            .revoke_refresh_of_session(SessionId::random(), now)
            .await
            .expect("revoke unknown"),
        0
    );
}

pub async fn refresh_concurrent_spend_rotates_exactly_once(store: Arc<dyn Store>) {
    const RACERS: usize = 50;
    let (_, _, token) = stored_family(&store).await;
    let successors: Vec<RefreshToken> = (0..RACERS)
        .map(|_| successor_of(&token, Duration::minutes(1)))
        .collect();

    let tasks: Vec<_> = successors
        .iter()
        .cloned()
        .map(|next| {
            let store = Arc::clone(&store);
            let old = token.id;
            tokio::spawn(async move {
                let outcome = store
                    .spend_refresh(old, at(Duration::minutes(1)), &next)
                    .await;
                (next.id, outcome)
            })
        })
        .collect();

    let mut winners = Vec::new();
    let mut losers = 0;
    for task in tasks {
        let (id, outcome) = task.await.expect("task finished");
        match outcome.expect("spend must not fail under contention") {
            SpendOutcome::Rotated => winners.push(id),
            SpendOutcome::AlreadySpent(row) => {
                assert!(row.used_at.is_some(), "a loser sees the token spent");
                losers += 1;
            }
            SpendOutcome::NotFound => panic!("the token exists"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation");
    assert_eq!(losers, RACERS - 1);

    let old = store
        .refresh_by_id(token.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(old.successor_id, Some(winners[0]));
    let mut stored = 0;
    for next in &successors {
        if store.refresh_by_id(next.id).await.expect("get").is_some() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "only the winner's successor is stored");
    let family: Vec<Uuid> = store
        .refresh_family(token.family_id)
        .await
        .expect("family")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        family,
        vec![token.id, winners[0]],
        "the family is the token and its one successor, oldest first"
    );
    assert!(store
        .refresh_family(Uuid::new_v4())
        .await
        .expect("family")
        .is_empty());
}
