//! Roles, custom claims and session scope: what every credential carries.

use std::sync::Arc;

use serde_json::json;
use tessera_core::store::Store;
use tessera_core::{CustomClaims, Roles, Scope, UserId};
use time::Duration;

use super::support::{at, session, stored_user, user};

pub async fn user_roles_and_claims_round_trip(store: Arc<dyn Store>) {
    let mut alice = user();
    alice.roles = Roles::new(["editor", "admin"]).expect("roles");
    alice.claims = CustomClaims::new(json!({
        "tenant": "acme",
        "perms": ["read", "write"],
        "level": 3,
        "nested": {"ünïcödé": true, "n": null}
    }))
    .expect("claims");
    store.create_user(&alice).await.expect("create");
    let back = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(back, alice);
    let plain = stored_user(&store).await;
    let back = store
        .user_by_id(plain.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(back.roles.is_empty() && back.claims.is_empty());
}

pub async fn user_replace_roles_compares_and_sets(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;
    let none = Roles::default();
    let one = Roles::new(["admin"]).expect("roles");
    let two = Roles::new(["admin", "editor"]).expect("roles");
    let later = at(Duration::minutes(3));

    assert!(store
        .replace_roles(alice.id, &none, &one, later)
        .await
        .expect("first set"));
    // A writer that read the roles before that change loses, and changes nothing.
    assert!(!store
        .replace_roles(alice.id, &none, &two, later)
        .await
        .expect("stale set"));
    let now = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(now.roles, one);
    assert_eq!(now.updated_at, later);
    assert!(store
        .replace_roles(alice.id, &one, &two, later)
        .await
        .expect("second set"));
    assert!(store
        .replace_roles(alice.id, &two, &none, later)
        .await
        .expect("clear"));
    assert!(!store
        .replace_roles(UserId::random(), &none, &one, later)
        .await
        .expect("unknown user"));
    // Other users are untouched.
    let bob_now = store
        .user_by_id(bob.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(bob_now, bob);
}

pub async fn user_set_claims(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let claims = CustomClaims::new(json!({"tenant": "acme", "quota": 1.5})).expect("claims");
    let later = at(Duration::minutes(4));
    assert!(store
        .set_claims(alice.id, &claims, later)
        .await
        .expect("set"));
    let back = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(back.claims, claims);
    assert_eq!(back.updated_at, later);
    assert!(store
        .set_claims(alice.id, &CustomClaims::default(), later)
        .await
        .expect("clear"));
    let back = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(back.claims.is_empty());
    assert!(!store
        .set_claims(UserId::random(), &claims, later)
        .await
        .expect("unknown user"));
}

pub async fn session_scope_round_trips(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let mut scoped = session(&alice, at(Duration::ZERO));
    scoped.scope = Scope::parse("write read").expect("scope");
    store.create_session(&scoped).await.expect("create");
    let plain = session(&alice, at(Duration::ZERO));
    store.create_session(&plain).await.expect("create");
    assert_eq!(
        store.session_by_id(scoped.id).await.expect("get"),
        Some(scoped.clone())
    );
    assert_eq!(
        store
            .session_by_secret_hash(&scoped.secret_hash)
            .await
            .expect("get"),
        Some(scoped)
    );
    assert_eq!(
        store
            .session_by_id(plain.id)
            .await
            .expect("get")
            .and_then(|s| s.scope),
        None
    );
}
