//! Second factors, recovery codes and pending login steps on a SQL backend.

use async_trait::async_trait;
use tessera_core::factor::{Amr, ChallengePurpose, Factor, FactorKind, MfaChallenge};
use tessera_core::store::{FactorStore, StoreResult};
use tessera_core::{SessionId, StoreError, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{self, CHALLENGE_COLUMNS, FACTOR_COLUMNS};
use super::{Dialect, SqlStore, Stmt};
use crate::decode::{millis, opt_millis};
use crate::write_error;

const FACTOR_TAKEN: &str = "the user already has a confirmed factor of this kind";

#[async_trait]
impl<D: Dialect> FactorStore for SqlStore<D> {
    async fn put_factor(&self, factor: &Factor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let confirmed = Stmt::new(
            "SELECT id FROM factors WHERE user_id = $1 AND kind = $2 AND confirmed_at IS NOT NULL",
        )
        .bind(factor.user_id.0)
        .bind(factor.kind.as_str());
        if tx
            .fetch_optional(&confirmed)
            .await
            .map_err(StoreError::unavailable)?
            .is_some()
        {
            return Err(StoreError::Conflict(FACTOR_TAKEN));
        }
        self.count_write();
        let replace = Stmt::new("DELETE FROM factors WHERE user_id = $1 AND kind = $2")
            .bind(factor.user_id.0)
            .bind(factor.kind.as_str());
        tx.execute(&replace)
            .await
            .map_err(StoreError::unavailable)?;
        self.count_write();
        let insert = Stmt::new(
            "INSERT INTO factors (id, user_id, kind, secret, secret_format, confirmed_at, \
             last_step, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(factor.id)
        .bind(factor.user_id.0)
        .bind(factor.kind.as_str())
        .bind(&factor.secret)
        .bind(factor.secret_format)
        .bind(opt_millis(factor.confirmed_at))
        .bind(factor.last_step)
        .bind(millis(factor.created_at));
        tx.execute(&insert)
            .await
            .map_err(|e| write_error(e, FACTOR_TAKEN, "factor's user does not exist"))?;
        tx.commit().await.map_err(StoreError::unavailable)
    }

    async fn factors_of_user(&self, user: UserId) -> StoreResult<Vec<Factor>> {
        let sql = format!(
            "SELECT {FACTOR_COLUMNS} FROM factors WHERE user_id = $1 ORDER BY created_at, id"
        );
        self.find_all(Stmt::new(sql).bind(user.0), rows::factor)
            .await
    }

    async fn confirm_factor(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE factors SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL",
        )
        .bind(millis(at))
        .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn advance_factor_step(&self, id: Uuid, step: i64) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE factors SET last_step = $1 \
             WHERE id = $2 AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step)
        .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn delete_factors(&self, user: UserId, kind: Option<FactorKind>) -> StoreResult<u64> {
        let mut stmt = Stmt::new("DELETE FROM factors WHERE user_id = $1").bind(user.0);
        if let Some(kind) = kind {
            stmt.push_bind(" AND kind = ", kind.as_str());
        }
        self.update(stmt).await
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        self.count_write();
        let clear = Stmt::new("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.0);
        tx.execute(&clear).await.map_err(StoreError::unavailable)?;
        for hash in hashes {
            self.count_write();
            let insert = Stmt::new(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) \
                 VALUES ($1, $2, $3, NULL)",
            )
            .bind(user.0)
            .bind(&hash.0[..])
            .bind(millis(at));
            tx.execute(&insert).await.map_err(|e| {
                write_error(
                    e,
                    "recovery code already exists",
                    "recovery code's user does not exist",
                )
            })?;
        }
        tx.commit().await.map_err(StoreError::unavailable)
    }

    async fn spend_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(millis(at))
        .bind(user.0)
        .bind(&hash.0[..]);
        Ok(self.update(stmt).await? == 1)
    }

    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<u32> {
        let stmt = Stmt::new(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.0);
        let n = self.find_one(stmt, |row| row.get::<i64>("n")).await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> StoreResult<()> {
        let (purpose, client_id, scope) = match &challenge.purpose {
            ChallengePurpose::Session => ("session", None, None),
            ChallengePurpose::Token { client_id, scope } => (
                "token",
                Some(client_id.as_str()),
                scope.as_ref().map(ToString::to_string),
            ),
        };
        let stmt = Stmt::new(
            "INSERT INTO mfa_challenges (id, user_id, token_hash, purpose, client_id, scope, \
             created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(challenge.id)
        .bind(challenge.user_id.0)
        .bind(&challenge.token_hash.0[..])
        .bind(purpose)
        .bind(client_id)
        .bind(&scope)
        .bind(millis(challenge.created_at))
        .bind(millis(challenge.expires_at))
        .bind(opt_millis(challenge.used_at));
        self.insert(stmt, |e| {
            write_error(
                e,
                "challenge already exists",
                "challenge's user does not exist",
            )
        })
        .await
    }

    async fn mfa_challenge_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<MfaChallenge>> {
        let sql = format!("SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE token_hash = $1");
        self.find(Stmt::new(sql).bind(&hash.0[..]), rows::challenge)
            .await
    }

    async fn spend_mfa_challenge(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        let stmt =
            Stmt::new("UPDATE mfa_challenges SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(millis(at))
                .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn sweep_mfa_challenges(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let stmt =
            Stmt::new("DELETE FROM mfa_challenges WHERE expires_at < $1").bind(millis(before));
        self.update(stmt).await
    }

    async fn set_session_factor(
        &self,
        id: SessionId,
        amr: Amr,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let amr = amr.to_stored();
        let stmt = Stmt::new(
            "UPDATE sessions SET amr = $1, factor_at = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(amr.as_str())
        .bind(millis(at))
        .bind(id.0);
        Ok(self.update(stmt).await? == 1)
    }
}
