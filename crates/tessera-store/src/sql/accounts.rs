//! Users, signing keys, server secrets, clients and the audit log on a SQL backend.

use async_trait::async_trait;
use tessera_core::model::{
    AuditEvent, AuditQuery, Client, KeyState, NewAuditEvent, SigningKeyRecord, User,
};
use tessera_core::store::{AuditLog, ClientStore, KeyStore, Store, StoreResult, UserStore};
use tessera_core::{ClientId, CustomClaims, Email, Roles, StoreError, UserId};
use time::OffsetDateTime;

use super::rows::{self, AUDIT_COLUMNS, CLIENT_COLUMNS, KEY_COLUMNS, USER_COLUMNS};
use super::{Dialect, SqlStore, Stmt};
use crate::decode::{millis, opt_millis};
use crate::{user_insert_error, write_error};

#[async_trait]
impl<D: Dialect> UserStore for SqlStore<D> {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let (roles, claims) = (user.roles.to_json(), user.claims.to_json());
        let stmt = Stmt::new(
            "INSERT INTO users (id, email, password_hash, locked, email_verified_at, roles, \
             claims, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.id.0)
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(user.locked)
        .bind(opt_millis(user.email_verified_at))
        .bind(&roles)
        .bind(&claims)
        .bind(millis(user.created_at))
        .bind(millis(user.updated_at));
        self.insert(stmt, user_insert_error).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.find(Stmt::new(sql).bind(id.0), rows::user).await
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        self.find(Stmt::new(sql).bind(email.as_str()), rows::user)
            .await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let stmt = Stmt::new("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(millis(at))
            .bind(id.0);
        Ok(self.update(stmt).await? == 1)
    }

    async fn set_locked(&self, id: UserId, locked: bool, at: OffsetDateTime) -> StoreResult<bool> {
        let stmt = Stmt::new("UPDATE users SET locked = $1, updated_at = $2 WHERE id = $3")
            .bind(locked)
            .bind(millis(at))
            .bind(id.0);
        Ok(self.update(stmt).await? == 1)
    }

    async fn set_email_verified(
        &self,
        id: UserId,
        email: &Email,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), \
             updated_at = $1 WHERE id = $2 AND email = $3",
        )
        .bind(millis(at))
        .bind(id.0)
        .bind(email.as_str());
        Ok(self.update(stmt).await? == 1)
    }

    async fn set_email(&self, id: UserId, email: &Email, at: OffsetDateTime) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE users SET email = $1, email_verified_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(email.as_str())
        .bind(millis(at))
        .bind(id.0);
        self.count_write();
        let _gate = self.write_gate().await;
        let changed = self
            .conn()
            .execute(&stmt)
            .await
            .map_err(user_insert_error)?;
        Ok(changed == 1)
    }

    async fn replace_roles(
        &self,
        id: UserId,
        expected: &Roles,
        roles: &Roles,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        // Both forms are canonical (sorted JSON), so comparing the text compares the sets.
        let (new, old) = (roles.to_json(), expected.to_json());
        let stmt =
            Stmt::new("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3 AND roles = $4")
                .bind(&new)
                .bind(millis(at))
                .bind(id.0)
                .bind(&old);
        Ok(self.update(stmt).await? == 1)
    }

    async fn set_claims(
        &self,
        id: UserId,
        claims: &CustomClaims,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let text = claims.to_json();
        let stmt = Stmt::new("UPDATE users SET claims = $1, updated_at = $2 WHERE id = $3")
            .bind(&text)
            .bind(millis(at))
            .bind(id.0);
        Ok(self.update(stmt).await? == 1)
    }
}

#[async_trait]
impl<D: Dialect> KeyStore for SqlStore<D> {
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO signing_keys (kid, algorithm, state, private_key, public_jwk, \
             format_version, created_at, activated_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(key.state.as_str())
        .bind(&key.private_key)
        .bind(&key.public_jwk)
        .bind(key.format_version)
        .bind(millis(key.created_at))
        .bind(opt_millis(key.activated_at))
        .bind(opt_millis(key.retired_at));
        self.insert(stmt, |e| {
            write_error(e, "signing key id already exists", "missing parent row")
        })
        .await
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid {}",
            D::BYTEWISE
        );
        self.find_all(Stmt::new(sql), rows::key).await
    }

    async fn set_key_state(
        &self,
        kid: &str,
        state: KeyState,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        // The state change stamps the matching timestamp; `next` has none of its own.
        let stmt = Stmt::new(
            "UPDATE signing_keys SET state = $1, \
             activated_at = CASE WHEN $1 = 'current' THEN $2 ELSE activated_at END, \
             retired_at = CASE WHEN $1 = 'retired' THEN $2 ELSE retired_at END \
             WHERE kid = $3",
        )
        .bind(state.as_str())
        .bind(millis(at))
        .bind(kid);
        Ok(self.update(stmt).await? == 1)
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let stmt = Stmt::new("DELETE FROM signing_keys WHERE kid = $1").bind(kid);
        Ok(self.update(stmt).await? == 1)
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        // Insert-if-absent then read: racing instances all end up reading the first value.
        let insert = Stmt::new(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(millis(OffsetDateTime::now_utc()));
        self.update(insert).await?;
        let select = Stmt::new("SELECT value FROM server_secrets WHERE name = $1").bind(name);
        self.find_one(select, |row| row.get("value")).await
    }
}

#[async_trait]
impl<D: Dialect> ClientStore for SqlStore<D> {
    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO clients (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&client.id.0)
        .bind(&client.name)
        .bind(&client.secret_hash.0[..])
        .bind(millis(client.created_at));
        self.insert(stmt, |e| {
            write_error(e, "client id already exists", "missing parent row")
        })
        .await
    }

    async fn client_by_id(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
        self.find(Stmt::new(sql).bind(&id.0), rows::client).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id {}",
            D::BYTEWISE
        );
        self.find_all(Stmt::new(sql), rows::client).await
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        let stmt = Stmt::new("DELETE FROM clients WHERE id = $1").bind(&id.0);
        Ok(self.update(stmt).await? == 1)
    }
}

#[async_trait]
impl<D: Dialect> AuditLog for SqlStore<D> {
    async fn append_event(&self, event: &NewAuditEvent) -> StoreResult<i64> {
        let detail = event.detail.to_string();
        let sql = format!(
            "INSERT INTO audit_events (kind, at, user_id, session_id, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS {})) RETURNING id",
            D::JSON
        );
        let stmt = Stmt::new(sql)
            .bind(&event.kind)
            .bind(millis(event.at))
            .bind(event.user_id.map(|u| u.0))
            .bind(event.session_id.map(|s| s.0))
            .bind(&event.ip)
            .bind(&event.user_agent)
            .bind(detail.as_str());
        // RETURNING rather than SQLite's last_insert_rowid: one statement text for both.
        self.write_returning(stmt, |row| row.get("id"))
            .await?
            .pop()
            .ok_or_else(|| StoreError::unavailable(sqlx::Error::RowNotFound))
    }

    async fn list_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        // Built per call so that each filter present is a plain indexable comparison.
        let mut stmt = Stmt::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE TRUE"
        ));
        if let Some(user) = query.user_id {
            stmt.push_bind(" AND user_id = ", user.0);
        }
        if let Some(kind) = &query.kind {
            stmt.push_bind(" AND kind = ", kind);
        }
        if let Some(before) = query.before_id {
            stmt.push_bind(" AND id < ", before);
        }
        stmt.push_bind(" ORDER BY id DESC LIMIT ", i64::from(query.limit));
        self.find_all(stmt, rows::audit).await
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn ping(&self) -> StoreResult<()> {
        self.conn()
            .execute(&Stmt::new("SELECT 1"))
            .await
            .map_err(StoreError::unavailable)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        D::NAME
    }
}
