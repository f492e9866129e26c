//! Fresh, isolated stores for tests: one per case, disposed of afterwards.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::Fixture;
use crate::{MemoryStore, PostgresStore, SqliteStore};

/// Where the Postgres fixtures connect to create their databases: a superuser (or a role with
/// CREATEDB) on a maintenance database.
pub const POSTGRES_URL_ENV: &str = "TESSERA_TEST_POSTGRES_URL";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

// Async like every other fixture, so that the suite macro takes any of them.
#[allow(clippy::unused_async)]
pub async fn memory() -> Option<Fixture<MemoryStore>> {
    Some(Fixture::new(MemoryStore::new()))
}

/// A migrated SQLite database in a new file under the temp dir, deleted (with its WAL and
/// shared-memory files) on teardown.
pub async fn sqlite_file() -> Option<Fixture<SqliteStore>> {
    let fixture = sqlite_file_unmigrated().await?;
    fixture.store.migrate().await.expect("migrate SQLite");
    Some(fixture)
}

/// As [`sqlite_file`], but empty: for tests that apply an older schema first.
pub async fn sqlite_file_unmigrated() -> Option<Fixture<SqliteStore>> {
    let path = std::env::temp_dir().join(format!("tessera-test-{}.db", Uuid::new_v4().simple()));
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open a SQLite file in the temp dir");
    let pool = store.pool().clone();
    Some(Fixture::with_cleanup(store, move || async move {
        pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            // Absent files are fine: the WAL is folded back and removed on a clean close.
            let _ = std::fs::remove_file(PathBuf::from(file));
        }
    }))
}

/// A migrated `sqlite::memory:` database, private to this fixture.
pub async fn sqlite_memory() -> Option<Fixture<SqliteStore>> {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("open an in-memory SQLite database");
    store.migrate().await.expect("migrate SQLite");
    let pool = store.pool().clone();
    Some(Fixture::with_cleanup(store, move || async move {
        pool.close().await;
    }))
}

/// A migrated store on a brand-new database `tessera_test_<random>`, dropped on teardown.
///
/// When Postgres cannot be reached this returns `None` (the case is skipped, with a message)
/// unless the `CI` variable is set, in which case it panics: CI must never pass by skipping.
pub async fn postgres() -> Option<Fixture<PostgresStore>> {
    let fixture = postgres_unmigrated().await?;
    fixture
        .store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate a fresh test database: {e:?}"));
    Some(fixture)
}

/// As [`postgres`], but the database is empty: for tests that apply an older schema first.
pub async fn postgres_unmigrated() -> Option<Fixture<PostgresStore>> {
    let admin_url =
        std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let admin_options = PgConnectOptions::from_str(&admin_url)
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV} is not a Postgres URL: {e}"));
    let server = format!("{}:{}", admin_options.get_host(), admin_options.get_port());
    let mut admin = match admin_connection(&admin_options).await {
        Ok(conn) => conn,
        Err(reason) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "Postgres at {server} is unreachable ({reason}) and CI is set"
            );
            eprintln!("skipping: Postgres at {server} is unreachable ({reason})");
            return None;
        }
    };
    let name = format!("tessera_test_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let _ = admin.close().await;

    let store = PostgresStore::connect_with(admin_options.clone().database(&name))
        .await
        .unwrap_or_else(|e| panic!("connect to {name}: {e:?}"));
    let pool = store.pool().clone();
    Some(Fixture::with_cleanup(store, move || async move {
        pool.close().await;
        match admin_connection(&admin_options).await {
            Ok(mut admin) => {
                // FORCE: a connection a panicking case left behind must not keep it alive.
                if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                {
                    eprintln!("could not drop test database {name}: {e}");
                }
                let _ = admin.close().await;
            }
            Err(reason) => eprintln!("could not drop test database {name}: {reason}"),
        }
    }))
}

async fn admin_connection(options: &PgConnectOptions) -> Result<PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 5 s".to_owned()),
    }
}
