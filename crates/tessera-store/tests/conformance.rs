//! The store conformance suite on every backend, plus the checks that only make sense for one.

use std::sync::Arc;

use tessera_core::model::{RefreshToken, SpendOutcome};
use tessera_core::store::{
    AuditLog, ClientStore, KeyStore, RefreshStore, SessionStore, Store, UserStore,
};
use tessera_store::conformance::support::{at, random_hash, stored_family};
use time::Duration;
use uuid::Uuid;

/// Spends a fresh token and returns how many writes that took, per `write_count`.
async fn writes_of_one_spend(store: Arc<dyn Store>, write_count: impl Fn() -> u64) -> u64 {
    let (_, _, token) = stored_family(&store).await;
    let successor = RefreshToken {
        id: Uuid::new_v4(),
        token_hash: random_hash(),
        ..token.clone()
    };
    let before = write_count();
    let outcome = store
        .spend_refresh(token.id, at(Duration::minutes(1)), &successor)
        .await
        .expect("spend");
    assert_eq!(outcome, SpendOutcome::Rotated);
    write_count() - before
}

mod memory {
    use super::*;
    use tessera_store::MemoryStore;

    tessera_store::conformance_tests!(tessera_store::conformance::fixtures::memory());

    #[tokio::test]
    async fn spend_refresh_is_two_writes() {
        let store = Arc::new(MemoryStore::new());
        let counter = Arc::clone(&store);
        assert_eq!(
            writes_of_one_spend(store, move || counter.write_count()).await,
            2
        );
    }
}

mod sqlite {
    use super::*;
    use tessera_core::StoreError;
    use tessera_store::conformance::fixtures;
    use tessera_store::SqliteStore;

    tessera_store::conformance_tests!(tessera_store::conformance::fixtures::sqlite_file());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whole_suite_on_sqlite_memory() {
        let ran = tessera_store::conformance::run_all(fixtures::sqlite_memory).await;
        assert_eq!(ran, tessera_store::conformance::cases().len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spend_refresh_is_two_writes() {
        let fixture = fixtures::sqlite_file().await.expect("fixture");
        let counter = Arc::clone(&fixture.store);
        let writes =
            writes_of_one_spend(fixture.store.clone(), move || counter.write_count()).await;
        fixture.teardown().await;
        assert_eq!(writes, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corrupt_rows_are_errors_not_panics() {
        let fixture = fixtures::sqlite_file().await.expect("fixture");
        let store = fixture.store.clone();
        let good = Uuid::new_v4().to_string();
        let (roles, claims) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        let scoped = Uuid::new_v4().to_string();
        let statements = [
            "INSERT INTO users (id, email, password_hash, locked, created_at, updated_at, roles, claims) VALUES ('not-a-uuid', 'a@example.test', 'h', 0, 0, 0, '[]', '{}')"
                .to_owned(),
            format!(
                "INSERT INTO users (id, email, password_hash, locked, created_at, updated_at, roles, claims) VALUES ('{good}', 'Shouty@Example.test', 'h', 0, 0, 0, '[]', \
                 '{{}}')"
            ),
            format!(
                "INSERT INTO users (id, email, password_hash, locked, created_at, updated_at, roles, claims) VALUES ('{roles}', 'r@example.test', 'h', 0, 0, 0, \
                 '[\"bad role\"]', '{{}}')"
            ),
            format!(
                "INSERT INTO users (id, email, password_hash, locked, created_at, updated_at, roles, claims) VALUES ('{claims}', 'c@example.test', 'h', 0, 0, 0, '[]', \
                 '{{\"exp\": 1}}')"
            ),
            format!(
                "INSERT INTO sessions VALUES ('{good}', '{good}', 'bogus', zeroblob(32), \
                 0, 0, 0, 0, NULL, NULL, NULL, NULL, 'pwd', NULL)"
            ),
            format!(
                "INSERT INTO sessions VALUES ('{scoped}', '{roles}', 'token', randomblob(32), \
                 0, 0, 0, 0, NULL, NULL, NULL, 'a\\b', 'pwd', NULL)"
            ),
            "INSERT INTO clients VALUES ('short-hash', 'n', x'0102', 0)".to_owned(),
            format!(
                "INSERT INTO signing_keys VALUES ('k', 'EdDSA', 'current', x'00', '{{}}', 1, \
                 {}, NULL, NULL)",
                i64::MAX
            ),
            "INSERT INTO audit_events (kind, at, detail) VALUES ('k', 0, 'not json')".to_owned(),
        ];
        for sql in &statements {
            sqlx::query(sql)
                .execute(store.pool())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let corrupt = |what: &str, result: Result<(), StoreError>| match result {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        };
        let email = tessera_core::Email::parse("a@example.test").expect("email");
        corrupt("bad uuid", store.user_by_email(&email).await.map(drop));
        let id = tessera_core::UserId(good.parse().expect("uuid"));
        corrupt("unnormalised email", store.user_by_id(id).await.map(drop));
        let session = tessera_core::SessionId(good.parse().expect("uuid"));
        corrupt("bad kind", store.session_by_id(session).await.map(drop));
        let roles = tessera_core::UserId(roles.parse().expect("uuid"));
        corrupt("invalid role", store.user_by_id(roles).await.map(drop));
        let claims = tessera_core::UserId(claims.parse().expect("uuid"));
        corrupt("reserved claim", store.user_by_id(claims).await.map(drop));
        let scoped = tessera_core::SessionId(scoped.parse().expect("uuid"));
        corrupt("invalid scope", store.session_by_id(scoped).await.map(drop));
        let client = tessera_core::ClientId("short-hash".into());
        corrupt("short hash", store.client_by_id(&client).await.map(drop));
        corrupt("timestamp out of range", store.list_keys().await.map(drop));
        let query = tessera_core::model::AuditQuery {
            limit: 10,
            ..Default::default()
        };
        corrupt("bad json", store.list_events(&query).await.map(drop));
        fixture.teardown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_survives_reopening_and_migrations_are_idempotent() {
        let path = std::env::temp_dir().join(format!("tessera-reopen-{}.db", Uuid::new_v4()));
        let url = format!("sqlite://{}", path.display());
        let store = tessera_store::open(&url, true).await.expect("open");
        assert_eq!(store.backend(), "sqlite");
        let (user, _, token) = stored_family(&store).await;
        drop(store);

        let again = SqliteStore::connect(&url).await.expect("reopen");
        again.migrate().await.expect("migrating twice is a no-op");
        assert_eq!(again.user_by_id(user.id).await.expect("get"), Some(user));
        assert_eq!(
            again.refresh_by_id(token.id).await.expect("get"),
            Some(token)
        );
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(again.pool())
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
        again.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

mod postgres {
    use super::*;
    use tessera_core::StoreError;
    use tessera_store::conformance::fixtures;

    tessera_store::conformance_tests!(tessera_store::conformance::fixtures::postgres());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spend_refresh_is_two_writes() {
        let Some(fixture) = fixtures::postgres().await else {
            return;
        };
        let counter = Arc::clone(&fixture.store);
        let writes =
            writes_of_one_spend(fixture.store.clone(), move || counter.write_count()).await;
        fixture.teardown().await;
        assert_eq!(writes, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corrupt_rows_are_errors_not_panics() {
        let Some(fixture) = fixtures::postgres().await else {
            return;
        };
        let store = fixture.store.clone();
        let id = Uuid::new_v4();
        let statements = [
            format!("INSERT INTO users (id, email, password_hash, locked, created_at, updated_at) VALUES ('{id}', 'Shouty@Example.test', 'h', false, 0, 0)"),
            format!(
                "INSERT INTO sessions VALUES ('{id}', '{id}', 'bogus', '\\x00', \
                 0, 0, 0, 0, NULL, NULL, NULL)"
            ),
            "INSERT INTO clients VALUES ('short-hash', 'n', '\\x0102', 0)".to_owned(),
            format!(
                "INSERT INTO signing_keys VALUES ('k', 'EdDSA', 'current', '\\x00', '{{}}', 1, \
                 {}, NULL, NULL)",
                i64::MAX
            ),
        ];
        for sql in &statements {
            sqlx::query(sql)
                .execute(store.pool())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let corrupt = |what: &str, result: Result<(), StoreError>| match result {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        };
        corrupt(
            "unnormalised email",
            store.user_by_id(tessera_core::UserId(id)).await.map(drop),
        );
        corrupt(
            "bad kind",
            store
                .session_by_id(tessera_core::SessionId(id))
                .await
                .map(drop),
        );
        let client = tessera_core::ClientId("short-hash".into());
        corrupt("short hash", store.client_by_id(&client).await.map(drop));
        corrupt("timestamp out of range", store.list_keys().await.map(drop));
        fixture.teardown().await;
    }
}

mod open {
    use tessera_core::StoreError;

    #[tokio::test]
    async fn memory_urls_open_a_memory_store() {
        for url in ["memory", "memory://"] {
            let store = tessera_store::open(url, true).await.expect("open");
            assert_eq!(store.backend(), "memory");
        }
    }

    #[tokio::test]
    async fn sqlite_memory_url_opens_a_migrated_store() {
        let store = tessera_store::open("sqlite::memory:", true)
            .await
            .expect("open");
        assert_eq!(store.backend(), "sqlite");
        assert!(store.list_keys().await.expect("tables exist").is_empty());
    }

    #[tokio::test]
    async fn unknown_scheme_is_a_clear_error_without_the_password() {
        for url in ["mysql://root:hunter2@localhost/db", "", "tessera.db"] {
            let err = tessera_store::open(url, true).await.expect_err(url);
            let StoreError::Unavailable(source) = &err else {
                panic!("{url}: expected Unavailable, got {err:?}");
            };
            let message = source.to_string();
            assert!(message.contains("unsupported store URL"), "{message}");
            assert!(message.contains("sqlite://PATH"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
