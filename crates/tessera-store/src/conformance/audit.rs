//! AuditLog cases and the exact round trip of timestamps.

use std::sync::Arc;

use serde_json::json;
use tessera_core::clock::from_unix_millis;
use tessera_core::model::{AuditEvent, AuditQuery, NewAuditEvent};
use tessera_core::store::Store;
use tessera_core::{SessionId, UserId};
use time::Duration;

use super::support::{at, stored_user};

fn event(kind: &str, user: Option<UserId>, minute: i64) -> NewAuditEvent {
    NewAuditEvent {
        kind: kind.to_owned(),
        at: at(Duration::minutes(minute)),
        user_id: user,
        session_id: user.map(|_| SessionId::random()),
        ip: user.map(|_| "2001:db8::1".to_owned()),
        user_agent: None,
        detail: json!({ "minute": minute, "reason": "ünïcödé \"quoted\"", "nested": [1, 2.5, null] }),
    }
}

fn query(limit: u32) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

async fn list(store: &Arc<dyn Store>, query: AuditQuery) -> Vec<AuditEvent> {
    store.list_events(&query).await.expect("list events")
}

pub async fn audit_append_and_filter(store: Arc<dyn Store>) {
    let alice = UserId::random();
    let bob = UserId::random();
    let plan = [
        event("login_succeeded", Some(alice), 0),
        event("login_failed", Some(bob), 1),
        event("key_rotated", None, 2),
        event("login_succeeded", Some(bob), 3),
        event("logout", Some(alice), 4),
    ];
    let mut appended = Vec::new();
    for e in &plan {
        let id = store.append_event(e).await.expect("append");
        appended.push(AuditEvent {
            id,
            event: e.clone(),
        });
    }
    assert!(
        appended.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase: {:?}",
        appended.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let newest_first: Vec<AuditEvent> = appended.iter().rev().cloned().collect();

    assert_eq!(list(&store, query(100)).await, newest_first);
    assert_eq!(list(&store, query(2)).await, newest_first[..2]);
    assert!(list(&store, query(0)).await.is_empty());

    let alices = AuditQuery {
        user_id: Some(alice),
        ..query(100)
    };
    assert_eq!(
        list(&store, alices).await,
        vec![appended[4].clone(), appended[0].clone()]
    );
    let logins = AuditQuery {
        kind: Some("login_succeeded".into()),
        ..query(100)
    };
    assert_eq!(
        list(&store, logins.clone()).await,
        vec![appended[3].clone(), appended[0].clone()]
    );
    let bobs_logins = AuditQuery {
        user_id: Some(bob),
        ..logins
    };
    assert_eq!(list(&store, bobs_logins).await, vec![appended[3].clone()]);
    let nothing = AuditQuery {
        kind: Some("no_such_kind".into()),
        ..query(100)
    };
    assert!(list(&store, nothing).await.is_empty());
}

pub async fn audit_cursor_pagination(store: Arc<dyn Store>) {
    let alice = UserId::random();
    let mut ids = Vec::new();
    for minute in 0..7 {
        // Interleave another user's events, which the filtered walk must skip.
        store
            .append_event(&event("noise", Some(UserId::random()), minute))
            .await
            .expect("append");
        ids.push(
            store
                .append_event(&event("login_succeeded", Some(alice), minute))
                .await
                .expect("append"),
        );
    }

    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = list(
            &store,
            AuditQuery {
                user_id: Some(alice),
                before_id,
                ..query(3)
            },
        )
        .await;
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        before_id = Some(last.id);
        seen.extend(page.iter().map(|e| e.id));
    }
    ids.reverse();
    assert_eq!(seen, ids, "pages walk every event once, newest first");

    let below_oldest = AuditQuery {
        before_id: Some(*ids.last().expect("some")),
        user_id: Some(alice),
        ..query(10)
    };
    assert!(list(&store, below_oldest).await.is_empty());
}

pub async fn timestamps_round_trip_exactly(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let instants = [
        from_unix_millis(1),
        from_unix_millis(-86_400_001),
        from_unix_millis(1_772_366_400_999),
        // 9999-12-31T23:59:59.999Z.
        from_unix_millis(253_402_300_799_999),
    ];
    for instant in instants {
        // Built at an ordinary time and then moved: the builders' offsets would overflow 9999.
        let mut s = super::support::session(&alice, at(Duration::ZERO));
        let mut fresh = super::support::refresh(&s, uuid::Uuid::new_v4());
        s.created_at = instant;
        s.last_seen_at = instant;
        s.idle_expires_at = instant;
        s.expires_at = instant;
        s.revoked_at = Some(instant);
        store.create_session(&s).await.expect("create session");
        let back = store
            .session_by_id(s.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(back, s, "session timestamps for {instant}");

        fresh.created_at = instant;
        fresh.expires_at = instant;
        store.insert_refresh(&fresh).await.expect("insert");
        assert_eq!(
            store.refresh_by_id(fresh.id).await.expect("get"),
            Some(fresh.clone())
        );

        let mut e = event("probe", Some(alice.id), 0);
        e.at = instant;
        let id = store.append_event(&e).await.expect("append");
        let listed = list(
            &store,
            AuditQuery {
                before_id: Some(id + 1),
                ..query(1)
            },
        )
        .await;
        assert_eq!(listed, vec![AuditEvent { id, event: e }]);
    }

    assert!(store
        .set_password_hash(alice.id, "$argon2id$x", instants[3])
        .await
        .expect("update"));
    let back = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(back.updated_at, instants[3]);
    assert_eq!(back.created_at, alice.created_at);
}

pub async fn store_ping_and_name(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    assert!(
        ["memory", "sqlite", "postgres"].contains(&store.backend()),
        "unexpected backend name {:?}",
        store.backend()
    );
}
