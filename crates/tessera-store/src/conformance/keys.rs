//! KeyStore and ClientStore cases.

use std::sync::Arc;

use tessera_core::model::{Client, KeyState, SigningKeyRecord};
use tessera_core::store::Store;
use tessera_core::ClientId;
use time::Duration;

use super::support::{assert_conflict, at, random_hash};

fn key(kid: &str, created_minutes: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "EdDSA".into(),
        state: KeyState::Next,
        // Every byte value, including NUL and invalid UTF-8, must survive.
        private_key: (0..=255).collect(),
        public_jwk: format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"abc"}}"#),
        format_version: 2,
        created_at: at(Duration::minutes(created_minutes)),
        activated_at: None,
        retired_at: None,
    }
}

pub async fn key_lifecycle(store: Arc<dyn Store>) {
    assert!(store.list_keys().await.expect("list").is_empty());
    let newest = key("k-newest", 3);
    let oldest = SigningKeyRecord {
        state: KeyState::Retired,
        activated_at: Some(at(Duration::minutes(1))),
        retired_at: Some(at(Duration::minutes(2))),
        ..key("k-oldest", 0)
    };
    let middle = key("k-middle", 1);
    // Same creation time as `middle`: ties are broken by kid.
    let middle_twin = key("k-middle-2", 1);
    for k in [&newest, &oldest, &middle_twin, &middle] {
        store.insert_key(k).await.expect("insert");
    }
    assert_conflict(store.insert_key(&key("k-middle", 9)).await, "same kid");

    let listed = store.list_keys().await.expect("list");
    assert_eq!(
        listed,
        vec![
            oldest.clone(),
            middle.clone(),
            middle_twin.clone(),
            newest.clone()
        ]
    );

    let activated = at(Duration::minutes(4));
    assert!(store
        .set_key_state("k-middle", KeyState::Current, activated)
        .await
        .expect("activate"));
    let retired = at(Duration::minutes(5));
    assert!(store
        .set_key_state("k-middle-2", KeyState::Current, activated)
        .await
        .expect("activate"));
    assert!(store
        .set_key_state("k-middle-2", KeyState::Retired, retired)
        .await
        .expect("retire"));
    assert!(!store
        .set_key_state("k-unknown", KeyState::Current, activated)
        .await
        .expect("unknown"));

    let listed = store.list_keys().await.expect("list");
    let current = &listed[1];
    assert_eq!(
        (current.state, current.activated_at),
        (KeyState::Current, Some(activated))
    );
    assert_eq!(current.retired_at, None);
    let gone = &listed[2];
    assert_eq!(gone.state, KeyState::Retired);
    assert_eq!(
        gone.activated_at,
        Some(activated),
        "retiring keeps the activation time"
    );
    assert_eq!(gone.retired_at, Some(retired));
    assert_eq!(listed[3], newest, "other keys unchanged");

    assert!(store.delete_key("k-oldest").await.expect("delete"));
    assert!(!store.delete_key("k-oldest").await.expect("delete again"));
    let kids: Vec<String> = store
        .list_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k-middle", "k-middle-2", "k-newest"]);
}

fn client(id: &str, created_minutes: i64) -> Client {
    Client {
        id: ClientId(id.to_owned()),
        name: format!("Resource server {id}"),
        secret_hash: random_hash(),
        created_at: at(Duration::minutes(created_minutes)),
    }
}

pub async fn client_crud(store: Arc<dyn Store>) {
    assert!(store.list_clients().await.expect("list").is_empty());
    let later = client("billing", 2);
    let earlier = client("reports", 1);
    let tie = client("analytics", 1);
    for c in [&later, &earlier, &tie] {
        store.insert_client(c).await.expect("insert");
    }
    assert_conflict(store.insert_client(&client("billing", 5)).await, "same id");

    assert_eq!(
        store.client_by_id(&later.id).await.expect("get"),
        Some(later.clone())
    );
    assert_eq!(
        store
            .client_by_id(&ClientId("nobody".into()))
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        store.list_clients().await.expect("list"),
        vec![tie.clone(), earlier.clone(), later.clone()]
    );

    assert!(store.delete_client(&earlier.id).await.expect("delete"));
    assert!(!store
        .delete_client(&earlier.id)
        .await
        .expect("delete again"));
    assert_eq!(store.client_by_id(&earlier.id).await.expect("get"), None);
    assert_eq!(store.list_clients().await.expect("list"), vec![tie, later]);
}

pub async fn server_secret_first_writer_wins(store: Arc<dyn Store>) {
    let first = store.server_secret("csrf", &[1; 32]).await.expect("first");
    assert_eq!(first, vec![1; 32]);
    let second = store.server_secret("csrf", &[2; 32]).await.expect("second");
    assert_eq!(second, vec![1; 32], "an existing secret is never replaced");
    let other = store
        .server_secret("refresh", &[3; 32])
        .await
        .expect("other name");
    assert_eq!(other, vec![3; 32], "names are independent");
    // Concurrent first writers (instances starting together) all read one value.
    let store2 = Arc::clone(&store);
    let (a, b) = tokio::join!(
        store.server_secret("race", &[4; 8]),
        store2.server_secret("race", &[5; 8])
    );
    assert_eq!(a.expect("a"), b.expect("b"));
}
