//! Fresh, isolated stores for tests: one per case, disposed of afterwards.

use std::path::PathBuf;

use uuid::Uuid;

use super::Fixture;
use crate::{MemoryStore, SqliteStore};

// Async like every other fixture, so that the suite macro takes any of them.
#[allow(clippy::unused_async)]
pub async fn memory() -> Option<Fixture<MemoryStore>> {
    Some(Fixture::new(MemoryStore::new()))
}

/// A migrated SQLite database in a new file under the temp dir, deleted (with its WAL and
/// shared-memory files) on teardown.
pub async fn sqlite_file() -> Option<Fixture<SqliteStore>> {
    let path = std::env::temp_dir().join(format!("tessera-test-{}.db", Uuid::new_v4().simple()));
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open a SQLite file in the temp dir");
    store.migrate().await.expect("migrate SQLite");
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
