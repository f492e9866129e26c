//! The only place that calls a sqlx driver. Each call is a `match` with one arm per backend, so a
//! new backend is a new variant here (the compiler lists every arm it needs) plus its `Dialect`.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Decode, PgPool, Postgres, Row as _, Sqlite, SqlitePool, Transaction, Type};
use tessera_core::store::StoreResult;
use uuid::Uuid;

use crate::decode;

/// A pool to run statements on, tagged with its backend.
#[derive(Debug, Clone, Copy)]
pub enum Conn<'p> {
    Sqlite(&'p SqlitePool),
    Postgres(&'p PgPool),
}

impl Conn<'_> {
    /// Runs `stmt` and reports how many rows it changed.
    pub async fn execute(self, stmt: &Stmt<'_>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => stmt.sqlite().execute(pool).await?.rows_affected(),
            Self::Postgres(pool) => stmt.postgres().execute(pool).await?.rows_affected(),
        })
    }

    pub async fn fetch_optional(self, stmt: &Stmt<'_>) -> Result<Option<Row>, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => stmt.sqlite().fetch_optional(pool).await?.map(Row::Sqlite),
            Self::Postgres(pool) => stmt
                .postgres()
                .fetch_optional(pool)
                .await?
                .map(Row::Postgres),
        })
    }

    pub async fn fetch_all(self, stmt: &Stmt<'_>) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => wrap(stmt.sqlite().fetch_all(pool).await?, Row::Sqlite),
            Self::Postgres(pool) => wrap(stmt.postgres().fetch_all(pool).await?, Row::Postgres),
        })
    }

    /// Opens a transaction for a read-then-write sequence.
    ///
    /// SQLite takes the write lock up front with `BEGIN IMMEDIATE`: a deferred transaction that
    /// reads first and writes later can fail with SQLITE_BUSY at the upgrade without the busy
    /// timeout ever applying. Postgres rows lock as they are updated, so a plain BEGIN does.
    pub async fn begin_write(self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// An open transaction; dropping it without [`Tx::commit`] rolls it back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn execute(&mut self, stmt: &Stmt<'_>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(tx) => stmt.sqlite().execute(&mut **tx).await?.rows_affected(),
            Self::Postgres(tx) => stmt.postgres().execute(&mut **tx).await?.rows_affected(),
        })
    }

    pub async fn fetch_optional(&mut self, stmt: &Stmt<'_>) -> Result<Option<Row>, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(tx) => stmt
                .sqlite()
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Sqlite),
            Self::Postgres(tx) => stmt
                .postgres()
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Postgres),
        })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Tx::Sqlite",
            Self::Postgres(_) => "Tx::Postgres",
        })
    }
}

fn wrap<R>(rows: Vec<R>, tag: fn(R) -> Row) -> Vec<Row> {
    rows.into_iter().map(tag).collect()
}

/// One SQL statement with `$1`, `$2`, … placeholders (both drivers read them) and its values.
pub struct Stmt<'a> {
    sql: Cow<'a, str>,
    values: Vec<Value<'a>>,
}

impl<'a> Stmt<'a> {
    pub fn new(sql: impl Into<Cow<'a, str>>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    /// Binds the next placeholder, `$1` first.
    #[must_use]
    pub fn bind(mut self, value: impl Into<Value<'a>>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Appends `sql` followed by a placeholder for `value`: for statements whose filters vary.
    pub fn push_bind(&mut self, sql: &str, value: impl Into<Value<'a>>) {
        self.values.push(value.into());
        let n = self.values.len();
        // Writing to a String cannot fail.
        let _ = write!(self.sql.to_mut(), "{sql}${n}");
    }

    fn sqlite(&self) -> Query<'_, Sqlite, SqliteArguments<'_>> {
        let query = sqlx::query(&self.sql);
        self.values.iter().fold(query, |query, value| match *value {
            // Hyphenated lower-case TEXT, as the SQLite schema says.
            Value::Id(id) => query.bind(id.map(|id| id.to_string())),
            Value::Int(n) => query.bind(n),
            Value::Int32(n) => query.bind(n),
            Value::Bool(b) => query.bind(b),
            Value::Text(text) => query.bind(text),
            Value::Bytes(bytes) => query.bind(bytes),
        })
    }

    fn postgres(&self) -> Query<'_, Postgres, PgArguments> {
        let query = sqlx::query(&self.sql);
        self.values.iter().fold(query, |query, value| match *value {
            Value::Id(id) => query.bind(id),
            Value::Int(n) => query.bind(n),
            Value::Int32(n) => query.bind(n),
            Value::Bool(b) => query.bind(b),
            Value::Text(text) => query.bind(text),
            Value::Bytes(bytes) => query.bind(bytes),
        })
    }
}

impl fmt::Debug for Stmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The values stay out: they include secret hashes and emails.
        f.debug_struct("Stmt")
            .field("sql", &self.sql)
            .field("values", &self.values.len())
            .finish()
    }
}

/// A value for one placeholder. Each variant keeps its SQL type even when NULL, which Postgres
/// needs to plan the statement.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    Id(Option<Uuid>),
    Int(Option<i64>),
    Int32(i32),
    Bool(bool),
    Text(Option<&'a str>),
    Bytes(&'a [u8]),
}

// Only the kind: a value may be a secret hash or an email.
impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Id(_) => "Id(..)",
            Self::Int(_) => "Int(..)",
            Self::Int32(_) => "Int32(..)",
            Self::Bool(_) => "Bool(..)",
            Self::Text(_) => "Text(..)",
            Self::Bytes(_) => "Bytes(..)",
        })
    }
}

impl From<Uuid> for Value<'_> {
    fn from(id: Uuid) -> Self {
        Self::Id(Some(id))
    }
}

impl From<Option<Uuid>> for Value<'_> {
    fn from(id: Option<Uuid>) -> Self {
        Self::Id(id)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(n: Option<i64>) -> Self {
        Self::Int(n)
    }
}

impl From<i32> for Value<'_> {
    fn from(n: i32) -> Self {
        Self::Int32(n)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Some(text))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(Some(text))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(text: &'a Option<String>) -> Self {
        Self::Text(text.as_deref())
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

/// A row read from either backend.
pub enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The columns stay out: they hold secret hashes.
        f.write_str(match self {
            Self::Sqlite(_) => "Row::Sqlite(..)",
            Self::Postgres(_) => "Row::Postgres(..)",
        })
    }
}

impl Row {
    /// The value of `column`, read the same way on both backends.
    pub fn get<'r, T: Plain<'r>>(&'r self, column: &str) -> StoreResult<T> {
        match self {
            Self::Sqlite(row) => row.try_get(column),
            Self::Postgres(row) => row.try_get(column),
        }
        .map_err(|err| decode::column_error(column, &err))
    }

    /// An id column: TEXT on SQLite, UUID on Postgres.
    pub fn id(&self, column: &str) -> StoreResult<Uuid> {
        match self {
            Self::Sqlite(_) => decode::uuid(column, self.get(column)?),
            Self::Postgres(row) => row
                .try_get(column)
                .map_err(|err| decode::column_error(column, &err)),
        }
    }

    pub fn opt_id(&self, column: &str) -> StoreResult<Option<Uuid>> {
        match self {
            Self::Sqlite(_) => decode::opt_uuid(column, self.get(column)?),
            Self::Postgres(row) => row
                .try_get(column)
                .map_err(|err| decode::column_error(column, &err)),
        }
    }
}

/// A Rust type both drivers decode alike. `Uuid` is deliberately not one (SQLite's driver reads
/// it as a 16-byte BLOB, while the schema stores TEXT): ids go through [`Row::id`].
pub trait Plain<'r>:
    Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres>
{
}

impl Plain<'_> for bool {}
impl Plain<'_> for i32 {}
impl Plain<'_> for i64 {}
impl Plain<'_> for Option<i64> {}
impl Plain<'_> for String {}
impl Plain<'_> for Option<String> {}
impl Plain<'_> for Vec<u8> {}
impl<'r> Plain<'r> for &'r str {}
impl<'r> Plain<'r> for Option<&'r str> {}
impl<'r> Plain<'r> for &'r [u8] {}
