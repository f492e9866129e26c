//! Owner-only permissions for the database file and its WAL companions.
//!
//! The database holds password hashes, session and refresh-token hashes, the CSRF and
//! refresh-successor keys and the signing keys. SQLite creates `-wal` and `-shm` with the
//! database file's own permissions, so creating that file 0600 before SQLite does covers all
//! three; files left more open by an older version are tightened at start.

use std::path::{Path, PathBuf};

use tessera_core::StoreError;

/// The database file behind a `sqlite://PATH` URL; `None` for in-memory databases and for
/// every other backend.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    let url = url.trim();
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Creates `path` empty and owner-only when missing, and tightens it and its `-wal`/`-shm` to
/// owner-only when they exist with wider permissions.
#[cfg(unix)]
pub(super) fn make_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(StoreError::unavailable(err)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(StoreError::unavailable)?;
            tracing::warn!(file = %file.display(), "database file was readable by others; now 0600");
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn make_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn only_file_urls_name_a_file() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/tessera/t.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/tessera/t.db"))
        );
        assert_eq!(sqlite_file("sqlite://t.db"), Some(PathBuf::from("t.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("memory://"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[tokio::test]
    async fn database_and_wal_files_are_owner_only() {
        let path = std::env::temp_dir().join(format!("tessera-perm-{}.db", uuid::Uuid::new_v4()));
        let store = super::super::SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let names = ["", "-wal", "-shm"].map(|s| PathBuf::from(format!("{}{s}", path.display())));
        for file in &names {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        store.close().await;

        // A file an older version left world-readable is tightened at the next start.
        std::fs::set_permissions(&names[0], std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = super::super::SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert_eq!(mode(&names[0]), 0o600);
        store.close().await;
        for file in &names {
            let _ = std::fs::remove_file(file);
        }
    }
}
