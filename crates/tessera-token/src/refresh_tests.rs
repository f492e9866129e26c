use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tessera_core::TokenHash;

use super::*;

/// Just enough of a store to exercise the rules; the real backends and their conformance suite
/// live in tessera-store.
#[derive(Debug, Default)]
struct MemRefresh {
    rows: Mutex<HashMap<Uuid, RefreshToken>>,
}

impl MemRefresh {
    fn row(&self, id: Uuid) -> RefreshToken {
        self.rows.lock().unwrap()[&id].clone()
    }
}

#[async_trait]
impl RefreshStore for MemRefresh {
    async fn insert_refresh(&self, token: &RefreshToken) -> StoreResult<()> {
        self.rows.lock().unwrap().insert(token.id, token.clone());
        Ok(())
    }
    async fn refresh_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<RefreshToken>> {
        let rows = self.rows.lock().unwrap();
        Ok(rows.values().find(|t| t.token_hash == *hash).cloned())
    }
    async fn spend_refresh(
        &self,
        old_id: Uuid,
        at: OffsetDateTime,
        successor: &RefreshToken,
    ) -> StoreResult<SpendOutcome> {
        let mut rows = self.rows.lock().unwrap();
        let Some(old) = rows.get_mut(&old_id) else {
            return Ok(SpendOutcome::NotFound);
        };
        if old.used_at.is_some() || old.revoked_at.is_some() {
            return Ok(SpendOutcome::AlreadySpent(old.clone()));
        }
        old.used_at = Some(at);
        old.successor_id = Some(successor.id);
        rows.insert(successor.id, successor.clone());
        Ok(SpendOutcome::Rotated)
    }
    async fn refresh_by_id(&self, id: Uuid) -> StoreResult<Option<RefreshToken>> {
        Ok(self.rows.lock().unwrap().get(&id).cloned())
    }
    async fn refresh_family(&self, family_id: Uuid) -> StoreResult<Vec<RefreshToken>> {
        let rows = self.rows.lock().unwrap();
        let mut family: Vec<_> = rows
            .values()
            .filter(|t| t.family_id == family_id)
            .cloned()
            .collect();
        family.sort_by_key(|t| (t.created_at, t.id));
        Ok(family)
    }
    async fn revoke_refresh_family(&self, family_id: Uuid, at: OffsetDateTime) -> StoreResult<u64> {
        let mut n = 0;
        for t in self.rows.lock().unwrap().values_mut() {
            if t.family_id == family_id && t.revoked_at.is_none() {
                t.revoked_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }
    async fn revoke_refresh_of_session(
        &self,
        session: SessionId,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        let mut n = 0;
        for t in self.rows.lock().unwrap().values_mut() {
            if t.session_id == session && t.revoked_at.is_none() {
                t.revoked_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }
}

const KEY: &[u8] = b"successor derivation key for tests";

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

fn policy(grace_secs: i64) -> RefreshPolicy {
    RefreshPolicy {
        ttl: Duration::days(30),
        grace: Duration::seconds(grace_secs),
    }
}

async fn family(store: &MemRefresh, policy: &RefreshPolicy) -> Rotation {
    issue_family(store, SessionId::random(), UserId::random(), t0(), policy)
        .await
        .unwrap()
}

fn rotated(result: RotateResult) -> Rotation {
    match result {
        RotateResult::Rotated(r) => r,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

#[tokio::test]
async fn rotation_spends_the_old_token_and_chains() {
    let store = MemRefresh::default();
    let p = policy(0);
    let first = family(&store, &p).await;
    assert!(first.secret.expose().starts_with("tsr_"));
    assert_eq!(first.expires_at, t0() + Duration::days(30));

    let at = t0() + Duration::minutes(5);
    let second = rotated(rotate(&store, &first.secret, KEY, at, &p).await.unwrap());
    assert_ne!(second.secret.expose(), first.secret.expose());
    assert_eq!(
        second.secret.expose(),
        SecretToken::derive(TokenKind::Refresh, KEY, &first.secret).expose()
    );
    assert_eq!(
        (second.session_id, second.user_id, second.family_id),
        (first.session_id, first.user_id, first.family_id)
    );
    assert_eq!(
        second.expires_at,
        at + Duration::days(30),
        "sliding lifetime"
    );

    let old = store
        .refresh_by_hash(&first.secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.used_at, Some(at));
    let new = store.row(old.successor_id.unwrap());
    assert_eq!(new.token_hash, second.secret.hash());

    let third = rotated(rotate(&store, &second.secret, KEY, at, &p).await.unwrap());
    assert_eq!(third.family_id, first.family_id);
}

#[tokio::test]
async fn spent_token_outside_grace_is_reuse() {
    let store = MemRefresh::default();
    let p = policy(0);
    let first = family(&store, &p).await;
    rotated(rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap());
    match rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap() {
        RotateResult::Reused {
            family_id,
            session_id,
            user_id,
        } => {
            assert_eq!(family_id, first.family_id);
            assert_eq!(session_id, first.session_id);
            assert_eq!(user_id, first.user_id);
        }
        other => panic!("expected Reused, got {other:?}"),
    }
}

#[tokio::test]
async fn grace_window_replays_the_same_successor() {
    let store = MemRefresh::default();
    let p = policy(10);
    let first = family(&store, &p).await;
    let second = rotated(rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap());

    let again = rotate(&store, &first.secret, KEY, t0() + Duration::seconds(10), &p)
        .await
        .unwrap();
    let RotateResult::GraceReplay(replayed) = again else {
        panic!("expected GraceReplay, got {again:?}");
    };
    assert_eq!(replayed.secret.expose(), second.secret.expose());
    assert_eq!(replayed.expires_at, second.expires_at);

    let late = rotate(&store, &first.secret, KEY, t0() + Duration::seconds(11), &p)
        .await
        .unwrap();
    assert!(matches!(late, RotateResult::Reused { .. }), "{late:?}");
}

#[tokio::test]
async fn grace_does_not_cover_a_successor_already_used() {
    let store = MemRefresh::default();
    let p = policy(60);
    let first = family(&store, &p).await;
    let second = rotated(rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap());
    rotated(rotate(&store, &second.secret, KEY, t0(), &p).await.unwrap());
    let replay = rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap();
    assert!(matches!(replay, RotateResult::Reused { .. }), "{replay:?}");
}

#[tokio::test]
async fn grace_replay_with_a_changed_key_is_refused_not_wrong() {
    let store = MemRefresh::default();
    let p = policy(60);
    let first = family(&store, &p).await;
    rotated(rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap());
    let replay = rotate(&store, &first.secret, &[7u8; 32], t0(), &p)
        .await
        .unwrap();
    assert!(matches!(replay, RotateResult::Invalid), "{replay:?}");
}

#[tokio::test]
async fn unknown_expired_revoked_and_wrong_kind_are_invalid() {
    let store = MemRefresh::default();
    let p = policy(60);
    let unknown = SecretToken::generate(TokenKind::Refresh);
    assert!(matches!(
        rotate(&store, &unknown, KEY, t0(), &p).await.unwrap(),
        RotateResult::Invalid
    ));

    let first = family(&store, &p).await;
    let expiry = t0() + p.ttl;
    assert!(matches!(
        rotate(&store, &first.secret, KEY, expiry, &p)
            .await
            .unwrap(),
        RotateResult::Invalid
    ));

    // A session token with the same characters is not a refresh token.
    let body = &first.secret.expose()[4..];
    let session = SecretToken::parse(TokenKind::Session, &format!("tss_{body}")).unwrap();
    assert!(matches!(
        rotate(&store, &session, KEY, t0(), &p).await.unwrap(),
        RotateResult::Invalid
    ));

    store
        .revoke_refresh_family(first.family_id, t0())
        .await
        .unwrap();
    assert!(matches!(
        rotate(&store, &first.secret, KEY, t0(), &p).await.unwrap(),
        RotateResult::Invalid
    ));
}

async fn race(grace_secs: i64) -> (Rotation, Vec<RotateResult>) {
    let store = Arc::new(MemRefresh::default());
    let p = policy(grace_secs);
    let first = family(&store, &p).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let secret = first.secret.clone();
            tokio::spawn(async move {
                rotate(store.as_ref(), &secret, KEY, t0(), &p)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    (first, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_presenters_mint_exactly_one_successor() {
    let (first, results) = race(0).await;
    let winners: Vec<_> = results
        .iter()
        .filter(|r| matches!(r, RotateResult::Rotated(_)))
        .collect();
    assert_eq!(winners.len(), 1);
    let reused = results
        .iter()
        .filter(|r| matches!(r, RotateResult::Reused { family_id, .. } if *family_id == first.family_id))
        .count();
    assert_eq!(reused, results.len() - 1);

    let (_, results) = race(30).await;
    let secrets: Vec<String> = results
        .iter()
        .map(|r| match r {
            RotateResult::Rotated(r) | RotateResult::GraceReplay(r) => r.secret.expose().to_owned(),
            other => panic!("within grace every presenter gets the successor: {other:?}"),
        })
        .collect();
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, RotateResult::Rotated(_)))
            .count(),
        1
    );
    assert!(secrets.windows(2).all(|w| w[0] == w[1]));
}
