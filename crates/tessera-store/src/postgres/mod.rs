//! The backend for deployments with several instances: Postgres through sqlx, runtime-checked
//! queries. Timestamps are BIGINT unix milliseconds, exactly as on SQLite; the queries are shared
//! with SQLite (`crate::sql`), this module connects and says how Postgres's SQL differs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tessera_core::StoreError;

use crate::sql::{Conn, Dialect, SqlStore};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a free connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Postgres store: ids as native UUID, times as BIGINT unix milliseconds.
pub type PostgresStore = SqlStore<PostgresDialect>;

#[derive(Debug)]
pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Pool = PgPool;

    const NAME: &'static str = "postgres";
    // The database's default collation follows the locale; "C" compares bytes, as SQLite does.
    const BYTEWISE: &'static str = "COLLATE \"C\"";
    // JSON rather than JSONB keeps the text as written (see the migration).
    const JSON: &'static str = "json";
    const ONE_WRITER: bool = false;

    fn conn(pool: &PgPool) -> Conn<'_> {
        Conn::Postgres(pool)
    }
}

impl SqlStore<PostgresDialect> {
    /// Connects to `postgres://…` / `postgresql://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::unavailable)?;
        Self::connect_with(options).await
    }

    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Self::new(pool))
    }

    /// Applies the embedded migrations that have not run yet. Concurrent instances are safe:
    /// sqlx serialises them with an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(self.pool())
            .await
            .map_err(StoreError::unavailable)
    }
}
