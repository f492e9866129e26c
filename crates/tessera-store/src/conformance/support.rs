//! Record builders shared by the cases. Every record gets fresh random ids and secrets, and
//! timestamps with a non-zero millisecond part so that a backend that loses precision fails.

use std::fmt::Debug;
use std::sync::Arc;

use tessera_core::clock::from_unix_millis;
use tessera_core::model::{RefreshToken, Session, SessionKind, User};
use tessera_core::store::Store;
use tessera_core::{CustomClaims, Email, Roles, SessionId, StoreError, TokenHash, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// 2026-03-01T12:00:00.123Z.
const BASE_MILLIS: i64 = 1_772_366_400_123;

/// The base instant plus `offset`.
pub fn at(offset: Duration) -> OffsetDateTime {
    from_unix_millis(BASE_MILLIS) + offset
}

pub fn random_hash() -> TokenHash {
    TokenHash::of(&Uuid::new_v4().to_string())
}

pub fn user() -> User {
    let id = UserId::random();
    User {
        id,
        email: Email::parse(&format!("user-{}@example.test", id.0.simple()))
            .expect("a valid email"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        locked: false,
        email_verified_at: None,
        roles: Roles::default(),
        claims: CustomClaims::default(),
        created_at: at(Duration::ZERO),
        updated_at: at(Duration::ZERO),
    }
}

/// A session of `user` opened at `created`: 30 min idle, 12 h absolute.
pub fn session(user: &User, created: OffsetDateTime) -> Session {
    Session {
        id: SessionId::random(),
        user_id: user.id,
        kind: SessionKind::Cookie,
        secret_hash: random_hash(),
        created_at: created,
        last_seen_at: created,
        idle_expires_at: created + Duration::minutes(30),
        expires_at: created + Duration::hours(12),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("conformance/1.0 (ünïcödé)".into()),
        revoked_at: None,
        scope: None,
        amr: tessera_core::Amr::PASSWORD,
        factor_at: None,
    }
}

/// An unspent refresh token of `session` in `family`, valid for 30 days.
pub fn refresh(session: &Session, family_id: Uuid) -> RefreshToken {
    RefreshToken {
        id: Uuid::new_v4(),
        family_id,
        session_id: session.id,
        user_id: session.user_id,
        token_hash: random_hash(),
        created_at: session.created_at,
        expires_at: session.created_at + Duration::days(30),
        used_at: None,
        successor_id: None,
        revoked_at: None,
    }
}

pub async fn stored_user(store: &Arc<dyn Store>) -> User {
    let user = user();
    store.create_user(&user).await.expect("create user");
    user
}

pub async fn stored_session(
    store: &Arc<dyn Store>,
    user: &User,
    created: OffsetDateTime,
) -> Session {
    let session = session(user, created);
    store
        .create_session(&session)
        .await
        .expect("create session");
    session
}

pub async fn stored_refresh(
    store: &Arc<dyn Store>,
    session: &Session,
    family_id: Uuid,
) -> RefreshToken {
    let token = refresh(session, family_id);
    store.insert_refresh(&token).await.expect("insert refresh");
    token
}

/// A user, a token session of theirs and the first refresh token of a new family.
pub async fn stored_family(store: &Arc<dyn Store>) -> (User, Session, RefreshToken) {
    let user = stored_user(store).await;
    let session = stored_session(store, &user, at(Duration::ZERO)).await;
    let token = stored_refresh(store, &session, Uuid::new_v4()).await;
    (user, session, token)
}

#[track_caller]
pub fn assert_conflict<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}
