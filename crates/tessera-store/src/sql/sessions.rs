//! Sessions and refresh tokens on a SQL backend: the hot, revocation-critical part of the schema.

use async_trait::async_trait;
use tessera_core::model::{RefreshToken, Session, SpendOutcome};
use tessera_core::store::{RefreshStore, SessionStore, StoreResult};
use tessera_core::{SessionId, StoreError, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{self, REFRESH_COLUMNS, SESSION_COLUMNS};
use super::{Dialect, SqlStore, Stmt};
use crate::decode::{millis, opt_millis};
use crate::write_error;

/// A session is gone for good once either expiry has passed or it was revoked long enough ago.
const SWEEP_CONDITION: &str = "expires_at < $1 OR idle_expires_at < $1 OR revoked_at < $2";

fn insert_refresh(token: &RefreshToken) -> Stmt<'_> {
    Stmt::new(
        "INSERT INTO refresh_tokens (id, family_id, session_id, user_id, token_hash, created_at, \
         expires_at, used_at, successor_id, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(token.id)
    .bind(token.family_id)
    .bind(token.session_id.0)
    .bind(token.user_id.0)
    .bind(&token.token_hash.0[..])
    .bind(millis(token.created_at))
    .bind(millis(token.expires_at))
    .bind(opt_millis(token.used_at))
    .bind(token.successor_id)
    .bind(opt_millis(token.revoked_at))
}

fn refresh_insert_error(err: sqlx::Error) -> StoreError {
    write_error(
        err,
        "refresh token already exists",
        "refresh token's session does not exist",
    )
}

fn refresh_by_id(id: Uuid) -> Stmt<'static> {
    Stmt::new(format!(
        "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE id = $1"
    ))
    .bind(id)
}

#[async_trait]
impl<D: Dialect> SessionStore for SqlStore<D> {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let scope = session.scope.as_ref().map(ToString::to_string);
        let amr = session.amr.to_stored();
        let stmt = Stmt::new(
            "INSERT INTO sessions (id, user_id, kind, secret_hash, created_at, last_seen_at, \
             idle_expires_at, expires_at, ip, user_agent, revoked_at, scope, amr, factor_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(session.id.0)
        .bind(session.user_id.0)
        .bind(session.kind.as_str())
        .bind(&session.secret_hash.0[..])
        .bind(millis(session.created_at))
        .bind(millis(session.last_seen_at))
        .bind(millis(session.idle_expires_at))
        .bind(millis(session.expires_at))
        .bind(&session.ip)
        .bind(&session.user_agent)
        .bind(opt_millis(session.revoked_at))
        .bind(&scope)
        .bind(&amr)
        .bind(opt_millis(session.factor_at));
        self.insert(stmt, |e| {
            write_error(e, "session already exists", "session's user does not exist")
        })
        .await
    }

    async fn session_by_secret_hash(&self, hash: &TokenHash) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE secret_hash = $1");
        self.find(Stmt::new(sql).bind(&hash.0[..]), rows::session)
            .await
    }

    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        self.find(Stmt::new(sql).bind(id.0), rows::session).await
    }

    async fn live_sessions_of_user(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
             AND idle_expires_at > $2 AND expires_at > $2 ORDER BY created_at, id"
        );
        let stmt = Stmt::new(sql).bind(user.0).bind(millis(now));
        self.find_all(stmt, rows::session).await
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(millis(last_seen_at))
        .bind(millis(idle_expires_at))
        .bind(id.0);
        Ok(self.update(stmt).await? == 1)
    }

    async fn revoke_session(&self, id: SessionId, at: OffsetDateTime) -> StoreResult<bool> {
        let stmt =
            Stmt::new("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(millis(at))
                .bind(id.0);
        Ok(self.update(stmt).await? == 1)
    }

    async fn revoke_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<SessionId>> {
        // One statement that both changes and reports the rows: atomic without a transaction.
        let stmt = Stmt::new(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3 \
             RETURNING id",
        )
        .bind(millis(at))
        .bind(user.0)
        .bind(keep.map(|k| k.0));
        let mut ids = self.write_returning(stmt, rows::session_id).await?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(SessionId, OffsetDateTime)>> {
        let stmt = Stmt::new(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 \
             ORDER BY revoked_at, id",
        )
        .bind(millis(since));
        self.find_all(stmt, rows::revoked).await
    }

    async fn sweep_sessions(
        &self,
        expired_before: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        // Explicit rather than left to ON DELETE CASCADE: SQLite cascades only on connections
        // that enabled foreign keys, the write count stays honest, and on Postgres it also
        // catches a token inserted between the two statements.
        self.count_write();
        let tokens = Stmt::new(format!(
            "DELETE FROM refresh_tokens WHERE session_id IN \
             (SELECT id FROM sessions WHERE {SWEEP_CONDITION})"
        ))
        .bind(millis(expired_before))
        .bind(millis(revoked_before));
        tx.execute(&tokens).await.map_err(StoreError::unavailable)?;
        self.count_write();
        let sessions = Stmt::new(format!("DELETE FROM sessions WHERE {SWEEP_CONDITION}"))
            .bind(millis(expired_before))
            .bind(millis(revoked_before));
        let deleted = tx
            .execute(&sessions)
            .await
            .map_err(StoreError::unavailable)?;
        tx.commit().await.map_err(StoreError::unavailable)?;
        Ok(deleted)
    }
}

#[async_trait]
impl<D: Dialect> RefreshStore for SqlStore<D> {
    async fn insert_refresh(&self, token: &RefreshToken) -> StoreResult<()> {
        self.insert(insert_refresh(token), refresh_insert_error)
            .await
    }

    async fn refresh_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<RefreshToken>> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        self.find(Stmt::new(sql).bind(&hash.0[..]), rows::refresh)
            .await
    }

    async fn spend_refresh(
        &self,
        old_id: Uuid,
        at: OffsetDateTime,
        successor: &RefreshToken,
    ) -> StoreResult<SpendOutcome> {
        // Only one concurrent spender's UPDATE can match: SQLite's write transaction holds the
        // database lock; on Postgres (READ COMMITTED) the second blocks on the row lock, then
        // re-checks the WHERE clause against the committed row. Dropping `tx` on an early return
        // rolls back, so a failed successor insert leaves the old token unspent.
        let mut tx = self.begin_write().await?;
        self.count_write();
        let spend = Stmt::new(
            "UPDATE refresh_tokens SET used_at = $1, successor_id = $2 \
             WHERE id = $3 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(successor.id)
        .bind(old_id);
        let spent = tx.execute(&spend).await.map_err(StoreError::unavailable)?;
        if spent == 1 {
            self.count_write();
            tx.execute(&insert_refresh(successor))
                .await
                .map_err(refresh_insert_error)?;
            tx.commit().await.map_err(StoreError::unavailable)?;
            return Ok(SpendOutcome::Rotated);
        }
        let current = tx
            .fetch_optional(&refresh_by_id(old_id))
            .await
            .map_err(StoreError::unavailable)?;
        tx.commit().await.map_err(StoreError::unavailable)?;
        match current {
            Some(row) => Ok(SpendOutcome::AlreadySpent(rows::refresh(&row)?)),
            None => Ok(SpendOutcome::NotFound),
        }
    }

    async fn refresh_by_id(&self, id: Uuid) -> StoreResult<Option<RefreshToken>> {
        self.find(refresh_by_id(id), rows::refresh).await
    }

    async fn refresh_family(&self, family_id: Uuid) -> StoreResult<Vec<RefreshToken>> {
        let sql = format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE family_id = $1 \
             ORDER BY created_at, id"
        );
        self.find_all(Stmt::new(sql).bind(family_id), rows::refresh)
            .await
    }

    async fn revoke_refresh_family(&self, family_id: Uuid, at: OffsetDateTime) -> StoreResult<u64> {
        let stmt = Stmt::new(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(family_id);
        self.update(stmt).await
    }

    async fn revoke_refresh_of_session(
        &self,
        session: SessionId,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        let stmt = Stmt::new(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE session_id = $2 AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(session.0);
        self.update(stmt).await
    }
}
