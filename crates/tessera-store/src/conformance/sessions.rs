//! SessionStore cases.

use std::sync::Arc;

use tessera_core::model::SessionKind;
use tessera_core::store::Store;
use tessera_core::{SessionId, UserId};
use time::Duration;
use uuid::Uuid;

use super::support::{
    assert_conflict, at, random_hash, session, stored_refresh, stored_session, stored_user, user,
};

pub async fn session_create_and_lookup(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let mut token_session = session(&alice, at(Duration::ZERO));
    token_session.kind = SessionKind::Token;
    token_session.ip = None;
    token_session.user_agent = None;
    store.create_session(&token_session).await.expect("create");
    let cookie = stored_session(&store, &alice, at(Duration::seconds(1))).await;

    for expected in [&token_session, &cookie] {
        let by_hash = store
            .session_by_secret_hash(&expected.secret_hash)
            .await
            .expect("by hash");
        assert_eq!(by_hash.as_ref(), Some(expected));
        let by_id = store.session_by_id(expected.id).await.expect("by id");
        assert_eq!(by_id.as_ref(), Some(expected));
    }
    assert_eq!(
        store
            .session_by_secret_hash(&random_hash())
            .await
            .expect("by hash"),
        None
    );
    assert_eq!(
        store
            .session_by_id(SessionId::random())
            .await
            .expect("by id"),
        None
    );

    // A revoked session is still found: liveness is core's decision, not the store's.
    assert!(store
        .revoke_session(cookie.id, at(Duration::seconds(2)))
        .await
        .expect("revoke"));
    let revoked = store
        .session_by_secret_hash(&cookie.secret_hash)
        .await
        .expect("by hash")
        .expect("still stored");
    assert_eq!(revoked.revoked_at, Some(at(Duration::seconds(2))));
}

pub async fn session_uniqueness_and_owner(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let first = stored_session(&store, &alice, at(Duration::ZERO)).await;

    let mut same_id = session(&alice, at(Duration::ZERO));
    same_id.id = first.id;
    assert_conflict(store.create_session(&same_id).await, "same session id");

    let mut same_secret = session(&alice, at(Duration::ZERO));
    same_secret.secret_hash = first.secret_hash;
    assert_conflict(store.create_session(&same_secret).await, "same secret hash");
    assert_eq!(
        store.session_by_id(same_secret.id).await.expect("get"),
        None
    );

    let orphan = session(&user(), at(Duration::ZERO));
    assert_conflict(store.create_session(&orphan).await, "unknown user");
    assert_eq!(store.session_by_id(orphan.id).await.expect("get"), None);
}

pub async fn session_live_list_excludes_revoked_and_expired(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;
    let now = at(Duration::hours(1));

    // Created out of order to check the ordering is by creation time, not insertion.
    let newer = stored_session(&store, &alice, now - Duration::minutes(1)).await;
    let older = stored_session(&store, &alice, now - Duration::minutes(2)).await;
    let revoked = stored_session(&store, &alice, now - Duration::minutes(3)).await;
    store
        .revoke_session(revoked.id, now - Duration::seconds(30))
        .await
        .expect("revoke");
    // Idle timeout passed: last activity 40 minutes ago.
    stored_session(&store, &alice, now - Duration::minutes(40)).await;
    // Absolute expiry exactly now: not live (is_live needs now < expires_at).
    let mut at_limit = session(&alice, now - Duration::minutes(5));
    at_limit.expires_at = now;
    store.create_session(&at_limit).await.expect("create");
    stored_session(&store, &bob, now - Duration::minutes(1)).await;

    let live = store
        .live_sessions_of_user(alice.id, now)
        .await
        .expect("live");
    assert_eq!(live, vec![older, newer]);
    assert!(store
        .live_sessions_of_user(UserId::random(), now)
        .await
        .expect("live")
        .is_empty());
}

pub async fn session_touch(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let s = stored_session(&store, &alice, at(Duration::ZERO)).await;

    let seen = at(Duration::minutes(10));
    let idle = at(Duration::minutes(40));
    assert!(store.touch_session(s.id, seen, idle).await.expect("touch"));
    let touched = store
        .session_by_id(s.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(touched.last_seen_at, seen);
    assert_eq!(touched.idle_expires_at, idle);
    assert_eq!(touched.expires_at, s.expires_at);
    assert_eq!(touched.created_at, s.created_at);

    store
        .revoke_session(s.id, at(Duration::minutes(11)))
        .await
        .expect("revoke");
    assert!(!store
        .touch_session(s.id, at(Duration::minutes(12)), at(Duration::minutes(42)))
        .await
        .expect("touch revoked"));
    let after = store
        .session_by_id(s.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.last_seen_at, seen, "a revoked session is not touched");

    assert!(!store
        .touch_session(SessionId::random(), seen, idle)
        .await
        .expect("touch unknown"));
}

pub async fn session_revoke_returns_true_once(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let s = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let other = stored_session(&store, &alice, at(Duration::ZERO)).await;

    let first = at(Duration::minutes(1));
    assert!(store.revoke_session(s.id, first).await.expect("revoke"));
    assert!(!store
        .revoke_session(s.id, at(Duration::minutes(2)))
        .await
        .expect("revoke again"));
    let revoked = store
        .session_by_id(s.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        revoked.revoked_at,
        Some(first),
        "the first revocation time stays"
    );

    let untouched = store.session_by_id(other.id).await.expect("get");
    assert_eq!(untouched, Some(other));
    assert!(!store
        .revoke_session(SessionId::random(), first)
        .await
        .expect("revoke unknown"));
}

pub async fn session_revoke_all_except_keep(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;
    let keep = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let a = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let b = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let earlier = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let earlier_at = at(Duration::minutes(1));
    store
        .revoke_session(earlier.id, earlier_at)
        .await
        .expect("revoke");
    let bobs = stored_session(&store, &bob, at(Duration::ZERO)).await;

    let now = at(Duration::minutes(5));
    let mut revoked = store
        .revoke_sessions_of_user(alice.id, Some(keep.id), now)
        .await
        .expect("revoke all");
    revoked.sort_unstable();
    let mut expected = vec![a.id, b.id];
    expected.sort_unstable();
    assert_eq!(
        revoked, expected,
        "only sessions that were live, minus keep"
    );

    for id in [a.id, b.id] {
        let s = store.session_by_id(id).await.expect("get").expect("exists");
        assert_eq!(s.revoked_at, Some(now));
    }
    let earlier_now = store
        .session_by_id(earlier.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(earlier_now.revoked_at, Some(earlier_at));
    assert_eq!(
        store.session_by_id(keep.id).await.expect("get"),
        Some(keep.clone())
    );
    assert_eq!(store.session_by_id(bobs.id).await.expect("get"), Some(bobs));

    let later = at(Duration::minutes(6));
    let rest = store
        .revoke_sessions_of_user(alice.id, None, later)
        .await
        .expect("revoke all");
    assert_eq!(rest, vec![keep.id]);
    assert!(store
        .revoke_sessions_of_user(alice.id, None, later)
        .await
        .expect("revoke all again")
        .is_empty());
}

pub async fn session_revoked_since(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let old = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let boundary = stored_session(&store, &alice, at(Duration::ZERO)).await;
    let recent = stored_session(&store, &alice, at(Duration::ZERO)).await;
    stored_session(&store, &alice, at(Duration::ZERO)).await;

    let since = at(Duration::minutes(10));
    store
        .revoke_session(old.id, since - Duration::milliseconds(1))
        .await
        .expect("revoke");
    store
        .revoke_session(boundary.id, since)
        .await
        .expect("revoke");
    let recent_at = since + Duration::minutes(3);
    store
        .revoke_session(recent.id, recent_at)
        .await
        .expect("revoke");

    let mut found = store.revoked_since(since).await.expect("revoked since");
    found.sort_unstable_by_key(|(_, at)| *at);
    assert_eq!(found, vec![(boundary.id, since), (recent.id, recent_at)]);
    assert!(store
        .revoked_since(recent_at + Duration::milliseconds(1))
        .await
        .expect("revoked since")
        .is_empty());
}

pub async fn session_sweep_deletes_expired_and_old_revoked(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let now = at(Duration::days(2));
    let revoked_before = now - Duration::minutes(10);

    let expired = stored_session(&store, &alice, now - Duration::days(1)).await;
    let idled = stored_session(&store, &alice, now - Duration::hours(1)).await;
    let old_revoked = stored_session(&store, &alice, now - Duration::minutes(20)).await;
    store
        .revoke_session(old_revoked.id, revoked_before - Duration::milliseconds(1))
        .await
        .expect("revoke");
    let new_revoked = stored_session(&store, &alice, now - Duration::minutes(20)).await;
    store
        .revoke_session(new_revoked.id, revoked_before)
        .await
        .expect("revoke");
    let live = stored_session(&store, &alice, now - Duration::minutes(5)).await;

    let mut tokens = Vec::new();
    for s in [&expired, &idled, &old_revoked, &new_revoked, &live] {
        tokens.push(stored_refresh(&store, s, Uuid::new_v4()).await);
    }

    let swept = store
        .sweep_sessions(now, revoked_before)
        .await
        .expect("sweep");
    assert_eq!(swept, 3);
    for (s, token) in [&expired, &idled, &old_revoked].into_iter().zip(&tokens) {
        assert_eq!(store.session_by_id(s.id).await.expect("get"), None);
        assert_eq!(store.refresh_by_id(token.id).await.expect("get"), None);
        assert_eq!(
            store.refresh_by_hash(&token.token_hash).await.expect("get"),
            None
        );
    }
    for (s, token) in [&new_revoked, &live].into_iter().zip(&tokens[3..]) {
        assert!(store.session_by_id(s.id).await.expect("get").is_some());
        assert_eq!(
            store.refresh_by_id(token.id).await.expect("get").as_ref(),
            Some(token)
        );
    }
    assert_eq!(
        store
            .sweep_sessions(now, revoked_before)
            .await
            .expect("sweep again"),
        0
    );
    // The secret of a swept session can be reused by a new one: nothing of it is left.
    let mut reborn = super::support::session(&alice, now);
    reborn.secret_hash = expired.secret_hash;
    store.create_session(&reborn).await.expect("create");
}
