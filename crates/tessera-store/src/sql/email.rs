//! Link tokens and the mail outbox on a SQL backend.

use async_trait::async_trait;
use tessera_core::mail::{EmailToken, EmailTokenPurpose, OutboxMail};
use tessera_core::store::{EmailTokenStore, MailOutbox, StoreResult};
use tessera_core::{Email, StoreError, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{self, EMAIL_TOKEN_COLUMNS, OUTBOX_COLUMNS};
use super::{Dialect, SqlStore, Stmt};
use crate::decode::{millis, opt_millis};
use crate::write_error;

/// Longest `last_error` kept: SMTP replies can be long and are only a hint for operators.
const MAX_ERROR_LEN: usize = 500;

fn clip(error: &str) -> &str {
    match error.char_indices().nth(MAX_ERROR_LEN) {
        Some((i, _)) => &error[..i],
        None => error,
    }
}

#[async_trait]
impl<D: Dialect> EmailTokenStore for SqlStore<D> {
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        self.count_write();
        let supersede = Stmt::new(
            "UPDATE email_tokens SET used_at = $1 \
             WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(millis(token.created_at))
        .bind(token.user_id.0)
        .bind(token.purpose.as_str());
        tx.execute(&supersede)
            .await
            .map_err(StoreError::unavailable)?;
        self.count_write();
        let insert = Stmt::new(
            "INSERT INTO email_tokens (id, user_id, purpose, token_hash, email, created_at, \
             expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.id)
        .bind(token.user_id.0)
        .bind(token.purpose.as_str())
        .bind(&token.token_hash.0[..])
        .bind(token.email.as_str())
        .bind(millis(token.created_at))
        .bind(millis(token.expires_at))
        .bind(opt_millis(token.used_at));
        tx.execute(&insert).await.map_err(|e| {
            write_error(
                e,
                "email token already exists",
                "email token's user does not exist",
            )
        })?;
        tx.commit().await.map_err(StoreError::unavailable)
    }

    async fn email_token_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<EmailToken>> {
        let sql = format!("SELECT {EMAIL_TOKEN_COLUMNS} FROM email_tokens WHERE token_hash = $1");
        self.find(Stmt::new(sql).bind(&hash.0[..]), rows::email_token)
            .await
    }

    async fn spend_email_token(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        let stmt =
            Stmt::new("UPDATE email_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(millis(at))
                .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn invalidate_email_tokens(
        &self,
        user: UserId,
        purpose: Option<EmailTokenPurpose>,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        let mut stmt = Stmt::new("UPDATE email_tokens SET used_at = $1 WHERE used_at IS NULL")
            .bind(millis(at));
        stmt.push_bind(" AND user_id = ", user.0);
        if let Some(purpose) = purpose {
            stmt.push_bind(" AND purpose = ", purpose.as_str());
        }
        self.update(stmt).await
    }

    async fn sweep_email_tokens(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let stmt = Stmt::new("DELETE FROM email_tokens WHERE expires_at < $1").bind(millis(before));
        self.update(stmt).await
    }
}

#[async_trait]
impl<D: Dialect> MailOutbox for SqlStore<D> {
    async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO mail_outbox (id, kind, user_id, recipient, other_email, created_at, \
             attempts, next_attempt_at, lease_until, last_error, failed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(mail.id)
        .bind(mail.kind.as_str())
        .bind(mail.user_id.map(|u| u.0))
        .bind(mail.recipient.as_str())
        .bind(mail.other_email.as_ref().map(Email::as_str))
        .bind(millis(mail.created_at))
        .bind(i32::try_from(mail.attempts).unwrap_or(i32::MAX))
        .bind(millis(mail.next_attempt_at))
        .bind(opt_millis(mail.lease_until))
        .bind(&mail.last_error)
        .bind(opt_millis(mail.failed_at));
        self.insert(stmt, |e| {
            write_error(e, "outbox mail already exists", "missing parent row")
        })
        .await
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMail>> {
        // The availability test is repeated outside the sub-select on purpose: on Postgres a
        // concurrent claimer blocked on the same row re-evaluates the outer WHERE against the
        // row the winner committed (with its new lease) and skips it, so no row is claimed
        // twice. SQLite serialises writers, so the question does not arise there.
        let sql = format!(
            "UPDATE mail_outbox SET lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox WHERE {AVAILABLE} \
             ORDER BY next_attempt_at, id LIMIT $3) AND {AVAILABLE} \
             RETURNING {OUTBOX_COLUMNS}"
        );
        let stmt = Stmt::new(sql)
            .bind(millis(now))
            .bind(millis(lease_until))
            .bind(i64::from(limit));
        let mut claimed = self.write_returning(stmt, rows::outbox_mail).await?;
        claimed.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(claimed)
    }

    async fn finish_mail(&self, id: Uuid) -> StoreResult<bool> {
        let stmt = Stmt::new("DELETE FROM mail_outbox WHERE id = $1").bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn retry_mail(
        &self,
        id: Uuid,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE mail_outbox SET lease_until = NULL, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3",
        )
        .bind(millis(next_attempt_at))
        .bind(clip(error))
        .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn fail_mail(&self, id: Uuid, at: OffsetDateTime, error: &str) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE mail_outbox SET lease_until = NULL, failed_at = $1, last_error = $2 \
             WHERE id = $3",
        )
        .bind(millis(at))
        .bind(clip(error))
        .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn list_mail(&self, limit: u32) -> StoreResult<Vec<OutboxMail>> {
        let sql =
            format!("SELECT {OUTBOX_COLUMNS} FROM mail_outbox ORDER BY created_at, id LIMIT $1");
        self.find_all(Stmt::new(sql).bind(i64::from(limit)), rows::outbox_mail)
            .await
    }

    async fn pending_mail(&self) -> StoreResult<u64> {
        let stmt = Stmt::new("SELECT COUNT(*) AS n FROM mail_outbox WHERE failed_at IS NULL");
        let n: i64 = self.find_one(stmt, |row| row.get("n")).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// A row no sender holds, due and not given up on.
const AVAILABLE: &str =
    "failed_at IS NULL AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)";
