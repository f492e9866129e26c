//! Storage backends for Tessera: [`MemoryStore`] (tests, single process), [`SqliteStore`] (the
//! embedded default) and [`PostgresStore`] (several instances). All of them implement
//! [`tessera_core::store::Store`] and pass the same [`conformance`] suite.
//!
//! Pick one from a URL with [`open`].

mod backoff;
mod decode;
pub mod feed;
mod memory;
mod postgres;
mod redis_link;
pub mod shared_sessions;
pub mod shared_throttle;
mod sql;
mod sqlite;

#[doc(hidden)]
pub mod conformance;

use std::fmt;
use std::sync::Arc;

use tessera_core::store::Store;
use tessera_core::StoreError;

pub use feed::{open_feed, FeedEvent, RevocationFeed};
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use shared_sessions::RedisSessionCache;
pub use shared_throttle::RedisThrottle;
pub use sqlite::{sqlite_file, SqliteStore};
pub use tessera_core::session::SessionRecord;

/// Opens the backend named by `url` and, when `migrate` is set, brings its schema up to date.
///
/// Accepted: `sqlite://PATH` (created if missing), `sqlite::memory:`, `memory` / `memory://`,
/// `postgres://…` / `postgresql://…`. Anything else is refused with an [`InvalidUrl`] as the
/// source of [`StoreError::Unavailable`].
pub async fn open(url: &str, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::of_url(url)? {
        Backend::Memory => Ok(Arc::new(MemoryStore::new())),
        Backend::Sqlite => {
            let store = SqliteStore::connect(url).await?;
            if migrate {
                store.migrate().await?;
            }
            Ok(Arc::new(store))
        }
        Backend::Postgres => {
            let store = PostgresStore::connect(url).await?;
            if migrate {
                store.migrate().await?;
            }
            Ok(Arc::new(store))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

impl Backend {
    fn of_url(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if matches!(url, "memory" | "memory:" | "memory://") {
            Ok(Self::Memory)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::unavailable(InvalidUrl::new(url)))
        }
    }
}

/// A store URL whose scheme no backend understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUrl {
    /// Only the part before `://` (or the first `:`): the rest may hold a password.
    scheme: String,
}

impl InvalidUrl {
    fn new(url: &str) -> Self {
        let scheme = url
            .split_once("://")
            .or_else(|| url.split_once(':'))
            .map_or(url, |(scheme, _)| scheme);
        Self {
            scheme: scheme.chars().take(32).collect(),
        }
    }
}

impl fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported store URL scheme {:?}: expected sqlite://PATH, sqlite::memory:, \
             memory://, postgres://… or postgresql://…",
            self.scheme
        )
    }
}

impl std::error::Error for InvalidUrl {}

/// Maps a failed write: broken uniqueness and a missing parent row are conflicts the caller can
/// report; anything else means the backend failed.
pub(crate) fn write_error(
    err: sqlx::Error,
    on_unique: &'static str,
    on_missing_parent: &'static str,
) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(on_unique);
        }
        if db.is_foreign_key_violation() {
            return StoreError::Conflict(on_missing_parent);
        }
    }
    StoreError::unavailable(err)
}

/// The conflict message for a user insert: the email is what a caller can actually collide on,
/// but an id clash must not be reported as one.
pub(crate) fn user_insert_error(err: sqlx::Error) -> StoreError {
    let email_taken = match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint().is_some_and(|c| c.contains("email")) || db.message().contains("email")
        }
        _ => false,
    };
    if email_taken {
        StoreError::Conflict(EMAIL_TAKEN)
    } else {
        write_error(
            err,
            "user id already exists",
            "user refers to a missing row",
        )
    }
}

pub(crate) const EMAIL_TAKEN: &str = "email is already registered";
