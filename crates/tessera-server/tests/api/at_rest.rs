//! Secrets at rest: owner-only store files, signing keys sealed by default (issue 9, item 5).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_core::password::PasswordHasher;
use tessera_core::{KeyState, TestClock};
use tessera_server::config::Config;
use tessera_server::{Application, Options};
use tessera_token::{Alg, EncryptionKey, KeyRing, FORMAT_ENCRYPTED, FORMAT_PLAIN};

use crate::helpers::{spawn_instance, TestApp};

/// A SQLite database path in the temp dir; the database, its WAL files and its key file are
/// deleted on drop.
struct DbFile(PathBuf);

impl DbFile {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("tessera-at-rest-{}.db", uuid::Uuid::new_v4())))
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
    fn with(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.0.display()))
    }
}

impl Drop for DbFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".key"] {
            let _ = std::fs::remove_file(self.with(suffix));
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let mut kids = app.jwks_kids().await;
    kids.sort();
    kids
}

#[tokio::test]
async fn store_and_key_files_are_owner_only() {
    let db = DbFile::new();
    let app = spawn_instance(&db.url(), "", TestClock::starting_now()).await;
    app.create_user("perm@example.com").await;
    for suffix in ["", "-wal", "-shm", ".key"] {
        assert_eq!(mode(&db.with(suffix)), 0o600, "tessera.db{suffix}");
    }
}

#[tokio::test]
async fn signing_keys_are_sealed_with_a_generated_key_file_that_a_restart_reuses() {
    let db = DbFile::new();
    let app = spawn_instance(&db.url(), "", TestClock::starting_now()).await;
    let records = app.state.store.list_keys().await.unwrap();
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.format_version == FORMAT_ENCRYPTED));
    // Not the clear PKCS#8: the records are useless without the key file.
    assert!(KeyRing::from_records(&records, None).is_err());
    let text = std::fs::read_to_string(db.with(".key")).unwrap();
    let key = EncryptionKey::from_base64(&text).unwrap();
    assert!(KeyRing::from_records(&records, Some(&key)).is_ok());
    let kids = jwks_kids(&app).await;
    drop(app);

    let again = spawn_instance(&db.url(), "", TestClock::starting_now()).await;
    assert_eq!(jwks_kids(&again).await, kids);
    assert_eq!(std::fs::read_to_string(db.with(".key")).unwrap(), text);
}

#[tokio::test]
async fn a_missing_key_file_for_sealed_keys_stops_the_start_with_a_clear_error() {
    let db = DbFile::new();
    drop(spawn_instance(&db.url(), "", TestClock::starting_now()).await);
    std::fs::remove_file(db.with(".key")).unwrap();

    let config = Config::from_toml_str(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{}\"\n",
        db.url()
    ))
    .unwrap();
    let options = Options {
        clock: Arc::new(TestClock::starting_now()),
        hasher: PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap()),
    };
    let err = Application::build(config, options)
        .await
        .expect_err("no key for the sealed signing keys")
        .to_string();
    assert!(err.contains(".key"), "{err}");
    assert!(err.contains("encrypted signing keys"), "{err}");
    // No new key file was made up, which would hide the loss.
    assert!(!db.with(".key").exists());
}

#[tokio::test]
async fn keys_stored_in_clear_by_an_older_version_still_load() {
    let db = DbFile::new();
    let store = tessera_store::open(&db.url(), true).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut kids = Vec::new();
    for state in [KeyState::Current, KeyState::Next] {
        let record = tessera_token::generate_key(Alg::EdDSA, now, state, None);
        assert_eq!(record.format_version, FORMAT_PLAIN);
        kids.push(record.kid.clone());
        store.insert_key(&record).await.unwrap();
    }
    kids.sort();
    drop(store);

    let app = spawn_instance(&db.url(), "", TestClock::starting_now()).await;
    assert_eq!(jwks_kids(&app).await, kids);
    assert!(db.with(".key").exists());
}
