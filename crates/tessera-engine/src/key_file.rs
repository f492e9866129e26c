//! Where the key that encrypts signing keys at rest comes from.
//!
//! `keys.encryption_key` wins. Otherwise the key lives in a file, `keys.encryption_key_file` or
//! `<database>.key` beside a SQLite database, generated (owner-only) on first start, so that a
//! copy of the database alone cannot mint tokens. A store without a file (Postgres) and without
//! a configured key keeps its signing keys in clear, and the start says so loudly.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tessera_core::SigningKeyRecord;
use tessera_token::{EncryptionKey, FORMAT_ENCRYPTED};

use secrecy::ExposeSecret as _;

use crate::settings::Settings;
use crate::tokens::TokenSetupError;

/// The key for `records`, or `None` when keys are to be stored in clear.
pub fn encryption_key(
    settings: &Settings,
    records: &[SigningKeyRecord],
) -> Result<Option<EncryptionKey>, TokenSetupError> {
    if let Some(text) = &settings.keys.encryption_key {
        return Ok(Some(EncryptionKey::from_base64(text.expose_secret())?));
    }
    let Some(path) = key_file_path(settings) else {
        if !is_memory(&settings.store_url) {
            tracing::warn!(
                "signing keys are stored UNENCRYPTED: anyone who can read the database can mint \
                 tokens. Set keys.encryption_key or keys.encryption_key_file"
            );
        }
        return Ok(None);
    };
    let key_file_error = |reason: String| TokenSetupError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    match read(&path) {
        Ok(key) => return Ok(Some(key)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(key_file_error(err.to_string())),
    }
    if records.iter().any(|r| r.format_version == FORMAT_ENCRYPTED) {
        return Err(key_file_error(
            "missing, but the store holds encrypted signing keys; restore the file or set \
             keys.encryption_key"
                .into(),
        ));
    }
    match create(&path) {
        Ok(key) => {
            tracing::info!(file = %path.display(), "generated the signing-key encryption key file");
            Ok(Some(key))
        }
        // Another instance or command created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read(&path)
            .map(Some)
            .map_err(|e| key_file_error(e.to_string())),
        Err(err) => {
            tracing::warn!(
                file = %path.display(),
                error = %err,
                "cannot create the key file: signing keys are stored UNENCRYPTED. Set \
                 keys.encryption_key or make the directory writable"
            );
            Ok(None)
        }
    }
}

fn key_file_path(settings: &Settings) -> Option<PathBuf> {
    if let Some(path) = &settings.keys.encryption_key_file {
        return Some(PathBuf::from(path));
    }
    let database = tessera_store::sqlite_file(&settings.store_url)?;
    let mut name = database.into_os_string();
    name.push(".key");
    Some(PathBuf::from(name))
}

fn is_memory(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("memory") || url.contains(":memory:") || url.contains("mode=memory")
}

fn read(path: &Path) -> std::io::Result<EncryptionKey> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
    warn_if_shared(path);
    EncryptionKey::from_base64(&text).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "does not hold 32 base64-encoded bytes",
        )
    })
}

fn create(path: &Path) -> std::io::Result<EncryptionKey> {
    let key = EncryptionKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let written = file
        .write_all(key.to_base64().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if let Err(err) = written {
        // A half-written key file would fail every later start; leave none.
        let _ = std::fs::remove_file(path);
        return Err(err);
    }
    Ok(key)
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the key file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}
