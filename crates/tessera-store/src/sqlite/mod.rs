//! The embedded default backend: SQLite through sqlx, WAL journal, runtime-checked queries.
//!
//! Single statements run in autocommit mode. Multi-statement writes take the write lock up front
//! with `BEGIN IMMEDIATE`: a deferred transaction that reads first and writes later can fail
//! with SQLITE_BUSY at the upgrade without the busy timeout ever applying.

mod files;
mod rows;
mod sessions;

pub use files::sqlite_file;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use tessera_core::model::{
    AuditEvent, AuditQuery, Client, KeyState, NewAuditEvent, SigningKeyRecord, User,
};
use tessera_core::store::{AuditLog, ClientStore, KeyStore, Store, StoreResult, UserStore};
use tessera_core::{ClientId, Email, StoreError, UserId};
use time::OffsetDateTime;

use crate::decode::{millis, opt_millis};
use crate::{user_insert_error, write_error};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers run in parallel under WAL; writers queue on the database lock whatever this is.
const MAX_CONNECTIONS: u32 = 8;

#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writes: AtomicU64,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (creating the file if missing) or `sqlite::memory:`.
    ///
    /// An in-memory database lives only as long as a connection to it, so it gets a pool of
    /// exactly one connection that is never closed for idleness.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::unavailable)?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let options = if in_memory {
            options
        } else {
            files::make_private(options.get_filename())?;
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            // Switching to WAL needs an exclusive lock that the busy timeout does not wait for,
            // so do it once, alone, before a pool opens connections concurrently. WAL is
            // persistent: later connections find it already set.
            SqliteConnection::connect_with(&options)
                .await
                .map_err(StoreError::unavailable)?
                .close()
                .await
                .map_err(StoreError::unavailable)?;
            options
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Self {
            pool,
            writes: AtomicU64::new(0),
        })
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(StoreError::unavailable)
    }

    /// How many INSERT/UPDATE/DELETE statements this store has executed.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The underlying pool, for tests and maintenance.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection; the store is unusable afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    async fn update<'q>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> StoreResult<u64> {
        self.count_write();
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(StoreError::unavailable)?
            .rows_affected())
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.count_write();
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, locked, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(user.id.0.to_string())
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(user.locked)
        .bind(millis(user.created_at))
        .bind(millis(user.updated_at))
        .execute(&self.pool)
        .await
        .map_err(user_insert_error)?;
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {} FROM users WHERE id = ?1", rows::USER_COLUMNS);
        sqlx::query(&sql)
            .bind(id.0.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::unavailable)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {} FROM users WHERE email = ?1", rows::USER_COLUMNS);
        sqlx::query(&sql)
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::unavailable)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let query =
            sqlx::query("UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3")
                .bind(hash)
                .bind(millis(at))
                .bind(id.0.to_string());
        Ok(self.update(query).await? == 1)
    }

    async fn set_locked(&self, id: UserId, locked: bool, at: OffsetDateTime) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE users SET locked = ?1, updated_at = ?2 WHERE id = ?3")
            .bind(locked)
            .bind(millis(at))
            .bind(id.0.to_string());
        Ok(self.update(query).await? == 1)
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.count_write();
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, state, private_key, public_jwk, \
             format_version, created_at, activated_at, retired_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(key.state.as_str())
        .bind(&key.private_key)
        .bind(&key.public_jwk)
        .bind(key.format_version)
        .bind(millis(key.created_at))
        .bind(opt_millis(key.activated_at))
        .bind(opt_millis(key.retired_at))
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, "signing key id already exists", "missing parent row"))?;
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let sql = format!(
            "SELECT {} FROM signing_keys ORDER BY created_at, kid",
            rows::KEY_COLUMNS
        );
        let found = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::unavailable)?;
        rows::all(&found, rows::key)
    }

    async fn set_key_state(
        &self,
        kid: &str,
        state: KeyState,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        // The state change stamps the matching timestamp; `next` has none of its own.
        let query = sqlx::query(
            "UPDATE signing_keys SET state = ?1, \
             activated_at = CASE WHEN ?1 = 'current' THEN ?2 ELSE activated_at END, \
             retired_at = CASE WHEN ?1 = 'retired' THEN ?2 ELSE retired_at END \
             WHERE kid = ?3",
        )
        .bind(state.as_str())
        .bind(millis(at))
        .bind(kid);
        Ok(self.update(query).await? == 1)
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM signing_keys WHERE kid = ?1").bind(kid);
        Ok(self.update(query).await? == 1)
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        // Insert-if-absent then read: racing instances all end up reading the first value.
        let insert = sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(millis(time::OffsetDateTime::now_utc()));
        self.update(insert).await?;
        let row: (Vec<u8>,) = sqlx::query_as("SELECT value FROM server_secrets WHERE name = ?1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(row.0)
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        self.count_write();
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&client.id.0)
        .bind(&client.name)
        .bind(&client.secret_hash.0[..])
        .bind(millis(client.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, "client id already exists", "missing parent row"))?;
        Ok(())
    }

    async fn client_by_id(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        let sql = format!("SELECT {} FROM clients WHERE id = ?1", rows::CLIENT_COLUMNS);
        sqlx::query(&sql)
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::unavailable)?
            .as_ref()
            .map(rows::client)
            .transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = format!(
            "SELECT {} FROM clients ORDER BY created_at, id",
            rows::CLIENT_COLUMNS
        );
        let found = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::unavailable)?;
        rows::all(&found, rows::client)
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM clients WHERE id = ?1").bind(&id.0);
        Ok(self.update(query).await? == 1)
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_event(&self, event: &NewAuditEvent) -> StoreResult<i64> {
        self.count_write();
        let result = sqlx::query(
            "INSERT INTO audit_events (kind, at, user_id, session_id, ip, user_agent, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&event.kind)
        .bind(millis(event.at))
        .bind(event.user_id.map(|u| u.0.to_string()))
        .bind(event.session_id.map(|s| s.0.to_string()))
        .bind(&event.ip)
        .bind(&event.user_agent)
        .bind(event.detail.to_string())
        .execute(&self.pool)
        .await
        .map_err(StoreError::unavailable)?;
        Ok(result.last_insert_rowid())
    }

    async fn list_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        // Built per call so that each filter present is a plain indexable comparison.
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {} FROM audit_events WHERE 1 = 1",
            rows::AUDIT_COLUMNS
        ));
        if let Some(user) = query.user_id {
            sql.push(" AND user_id = ").push_bind(user.0.to_string());
        }
        if let Some(kind) = &query.kind {
            sql.push(" AND kind = ").push_bind(kind.clone());
        }
        if let Some(before) = query.before_id {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let found = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::unavailable)?;
        rows::all(&found, rows::audit)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
