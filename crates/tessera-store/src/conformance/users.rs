//! UserStore cases.

use std::sync::Arc;

use tessera_core::store::Store;
use tessera_core::{Email, UserId};
use time::Duration;

use super::support::{assert_conflict, at, stored_user, user};

pub async fn user_create_and_get(store: Arc<dyn Store>) {
    let alice = user();
    store.create_user(&alice).await.expect("create");

    let by_id = store.user_by_id(alice.id).await.expect("by id");
    assert_eq!(by_id.as_ref(), Some(&alice));
    let by_email = store.user_by_email(&alice.email).await.expect("by email");
    assert_eq!(by_email.as_ref(), Some(&alice));

    assert_eq!(
        store.user_by_id(UserId::random()).await.expect("by id"),
        None
    );
    let stranger = Email::parse("nobody@example.test").expect("email");
    assert_eq!(
        store.user_by_email(&stranger).await.expect("by email"),
        None
    );
}

pub async fn user_duplicate_email_conflicts(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let mut twin = user();
    twin.email = alice.email.clone();
    twin.password_hash = "$argon2id$other".into();
    assert_conflict(store.create_user(&twin).await, "same email");

    let mut same_id = user();
    same_id.id = alice.id;
    assert_conflict(store.create_user(&same_id).await, "same id");

    // Neither failed insert may have left anything behind.
    assert_eq!(store.user_by_id(twin.id).await.expect("by id"), None);
    assert_eq!(
        store.user_by_email(&same_id.email).await.expect("by email"),
        None
    );
    assert_eq!(
        store.user_by_email(&alice.email).await.expect("by email"),
        Some(alice)
    );
}

pub async fn user_password_and_lock_updates(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;

    let later = at(Duration::minutes(5));
    assert!(store
        .set_password_hash(alice.id, "$argon2id$v=19$new", later)
        .await
        .expect("set hash"));
    let changed = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(changed.password_hash, "$argon2id$v=19$new");
    assert_eq!(changed.updated_at, later);
    assert_eq!(changed.created_at, alice.created_at);
    assert!(!changed.locked);

    let locked_at = at(Duration::minutes(6));
    assert!(store
        .set_locked(alice.id, true, locked_at)
        .await
        .expect("lock"));
    let locked = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(locked.locked);
    assert_eq!(locked.updated_at, locked_at);
    assert_eq!(locked.password_hash, "$argon2id$v=19$new");

    let unlocked_at = at(Duration::minutes(7));
    assert!(store
        .set_locked(alice.id, false, unlocked_at)
        .await
        .expect("unlock"));
    let unlocked = store
        .user_by_email(&alice.email)
        .await
        .expect("get")
        .expect("exists");
    assert!(!unlocked.locked);
    assert_eq!(unlocked.updated_at, unlocked_at);

    // Other rows are untouched, and unknown ids report false.
    assert_eq!(store.user_by_id(bob.id).await.expect("get"), Some(bob));
    let nobody = UserId::random();
    assert!(!store
        .set_password_hash(nobody, "$argon2id$x", later)
        .await
        .expect("set hash"));
    assert!(!store.set_locked(nobody, true, later).await.expect("lock"));
    assert_eq!(store.user_by_id(nobody).await.expect("get"), None);
}
