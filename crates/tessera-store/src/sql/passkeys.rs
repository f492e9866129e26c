//! Passkeys and pending WebAuthn ceremonies on a SQL backend.

use async_trait::async_trait;
use tessera_core::passkey::{Ceremony, PasskeyRecord};
use tessera_core::store::{PasskeyStore, StoreResult};
use tessera_core::UserId;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{opt_time, time};
use super::{Dialect, Row, SqlStore, Stmt};
use crate::decode::{self, millis, opt_millis};
use crate::write_error;

const PASSKEY_COLUMNS: &str =
    "id, user_id, credential_id, name, credential, created_at, last_used_at";
const CEREMONY_COLUMNS: &str = "id, kind, user_id, state, created_at, expires_at";

fn passkey(row: &Row) -> StoreResult<PasskeyRecord> {
    Ok(PasskeyRecord {
        id: row.id("id")?,
        user_id: UserId(row.id("user_id")?),
        credential_id: row.get("credential_id")?,
        name: row.get("name")?,
        credential: row.get("credential")?,
        created_at: time(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
    })
}

fn ceremony(row: &Row) -> StoreResult<Ceremony> {
    Ok(Ceremony {
        id: row.id("id")?,
        kind: row
            .get::<&str>("kind")?
            .parse()
            .map_err(|_| decode::corrupt("kind", "unknown ceremony kind"))?,
        user_id: row.opt_id("user_id")?.map(UserId),
        state: row.get("state")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
    })
}

#[async_trait]
impl<D: Dialect> PasskeyStore for SqlStore<D> {
    async fn insert_passkey(&self, p: &PasskeyRecord) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at, \
             last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.id)
        .bind(p.user_id.0)
        .bind(&p.credential_id[..])
        .bind(p.name.as_str())
        .bind(&p.credential[..])
        .bind(millis(p.created_at))
        .bind(opt_millis(p.last_used_at));
        self.insert(stmt, |e| {
            write_error(
                e,
                "this credential is registered already",
                "passkey's user does not exist",
            )
        })
        .await
    }

    async fn passkeys_of_user(&self, user: UserId) -> StoreResult<Vec<PasskeyRecord>> {
        let sql = format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        );
        self.find_all(Stmt::new(sql).bind(user.0), passkey).await
    }

    async fn rename_passkey(&self, user: UserId, id: Uuid, name: &str) -> StoreResult<bool> {
        let stmt = Stmt::new("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user.0);
        Ok(self.update(stmt).await? == 1)
    }

    async fn delete_passkey(&self, user: UserId, id: Uuid) -> StoreResult<bool> {
        let stmt = Stmt::new("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.0);
        Ok(self.update(stmt).await? == 1)
    }

    async fn record_passkey_use(
        &self,
        id: Uuid,
        credential: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let stmt =
            Stmt::new("UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3")
                .bind(credential)
                .bind(millis(at))
                .bind(id);
        Ok(self.update(stmt).await? == 1)
    }

    async fn insert_ceremony(&self, c: &Ceremony) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO webauthn_ceremonies (id, kind, user_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id)
        .bind(c.kind.as_str())
        .bind(c.user_id.map(|u| u.0))
        .bind(&c.state[..])
        .bind(millis(c.created_at))
        .bind(millis(c.expires_at));
        self.insert(stmt, |e| {
            write_error(
                e,
                "ceremony already exists",
                "ceremony's user does not exist",
            )
        })
        .await
    }

    async fn take_ceremony(&self, id: Uuid) -> StoreResult<Option<Ceremony>> {
        let sql = format!("SELECT {CEREMONY_COLUMNS} FROM webauthn_ceremonies WHERE id = $1");
        let Some(found) = self.find(Stmt::new(sql).bind(id), ceremony).await? else {
            return Ok(None);
        };
        // The delete is the compare-and-set: of two racing finishes, one removes the row.
        let delete = Stmt::new("DELETE FROM webauthn_ceremonies WHERE id = $1").bind(id);
        Ok((self.update(delete).await? == 1).then_some(found))
    }

    async fn sweep_ceremonies(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let stmt =
            Stmt::new("DELETE FROM webauthn_ceremonies WHERE expires_at < $1").bind(millis(before));
        self.update(stmt).await
    }
}
