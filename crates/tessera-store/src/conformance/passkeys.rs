//! Cases for [`PasskeyStore`](tessera_core::store::PasskeyStore): passkeys (several per user,
//! credential ids unique across users, rename/delete only by their owner) and WebAuthn
//! ceremonies (taken once, swept when expired).

use std::sync::Arc;

use futures_util::future::join_all;
use tessera_core::passkey::{Ceremony, CeremonyKind, PasskeyRecord};
use tessera_core::store::Store;
use time::Duration;
use uuid::Uuid;

use super::support::{assert_conflict, at, stored_user};

fn passkey(user: &tessera_core::User, credential_id: &[u8], offset: Duration) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::new_v4(),
        user_id: user.id,
        credential_id: credential_id.to_vec(),
        name: "Laptop".into(),
        credential: b"{\"cred\":1}".to_vec(),
        created_at: at(offset),
        last_used_at: None,
    }
}

pub async fn passkey_crud_is_per_owner(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;
    let first = passkey(&alice, b"cred-1", Duration::ZERO);
    let second = passkey(&alice, b"cred-2", Duration::SECOND);
    store.insert_passkey(&first).await.unwrap();
    store.insert_passkey(&second).await.unwrap();
    // A credential id belongs to one passkey, whoever registers it again.
    assert_conflict(
        store
            .insert_passkey(&passkey(&bob, b"cred-1", Duration::ZERO))
            .await,
        "a credential id registered twice",
    );
    assert_eq!(
        store.passkeys_of_user(alice.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert!(store.passkeys_of_user(bob.id).await.unwrap().is_empty());

    assert!(!store
        .rename_passkey(bob.id, first.id, "mine")
        .await
        .unwrap());
    assert!(store
        .rename_passkey(alice.id, first.id, "Work")
        .await
        .unwrap());
    assert!(store
        .record_passkey_use(first.id, b"{\"cred\":2}", at(Duration::MINUTE))
        .await
        .unwrap());
    let stored = &store.passkeys_of_user(alice.id).await.unwrap()[0];
    assert_eq!(stored.name, "Work");
    assert_eq!(stored.credential, b"{\"cred\":2}");
    assert_eq!(stored.last_used_at, Some(at(Duration::MINUTE)));

    assert!(!store.delete_passkey(bob.id, first.id).await.unwrap());
    assert!(store.delete_passkey(alice.id, first.id).await.unwrap());
    assert!(!store.delete_passkey(alice.id, first.id).await.unwrap());
    assert_eq!(
        store.passkeys_of_user(alice.id).await.unwrap(),
        vec![second]
    );
}

pub async fn ceremony_is_taken_once_and_swept(store: Arc<dyn Store>) {
    let user = stored_user(&store).await;
    let ceremony = |kind, user_id, ttl| Ceremony {
        id: Uuid::new_v4(),
        kind,
        user_id,
        state: b"state".to_vec(),
        created_at: at(Duration::ZERO),
        expires_at: at(ttl),
    };
    let login = ceremony(CeremonyKind::Login, None, Duration::minutes(5));
    let register = ceremony(CeremonyKind::Register, Some(user.id), Duration::minutes(5));
    let short = ceremony(CeremonyKind::SecondFactor, Some(user.id), Duration::MINUTE);
    for c in [&login, &register, &short] {
        store.insert_ceremony(c).await.unwrap();
    }
    assert_conflict(store.insert_ceremony(&login).await, "a ceremony id twice");

    // Two finishes racing: exactly one gets the state.
    let takes = join_all((0..4).map(|_| store.take_ceremony(register.id))).await;
    let taken: Vec<_> = takes.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(taken, vec![register]);

    assert_eq!(
        store
            .sweep_ceremonies(at(Duration::minutes(2)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.take_ceremony(short.id).await.unwrap(), None);
    assert_eq!(store.take_ceremony(login.id).await.unwrap(), Some(login));
}
