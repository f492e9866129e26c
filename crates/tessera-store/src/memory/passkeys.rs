//! Passkeys and pending WebAuthn ceremonies in memory.

use async_trait::async_trait;
use tessera_core::passkey::{Ceremony, PasskeyRecord};
use tessera_core::store::{PasskeyStore, StoreResult};
use tessera_core::{StoreError, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::MemoryStore;

#[async_trait]
impl PasskeyStore for MemoryStore {
    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> StoreResult<()> {
        let mut state = self.write();
        if !state.users.contains_key(&passkey.user_id) {
            return Err(StoreError::Conflict("passkey's user does not exist"));
        }
        if state.passkeys.contains_key(&passkey.id)
            || state
                .passkeys
                .values()
                .any(|p| p.credential_id == passkey.credential_id)
        {
            return Err(StoreError::Conflict(
                "this credential is registered already",
            ));
        }
        self.count_writes(1);
        state.passkeys.insert(passkey.id, passkey.clone());
        Ok(())
    }

    async fn passkeys_of_user(&self, user: UserId) -> StoreResult<Vec<PasskeyRecord>> {
        let mut found: Vec<PasskeyRecord> = self
            .read()
            .passkeys
            .values()
            .filter(|p| p.user_id == user)
            .cloned()
            .collect();
        found.sort_by_key(|p| (p.created_at, p.id));
        Ok(found)
    }

    async fn rename_passkey(&self, user: UserId, id: Uuid, name: &str) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        match state.passkeys.get_mut(&id) {
            Some(p) if p.user_id == user => {
                name.clone_into(&mut p.name);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_passkey(&self, user: UserId, id: Uuid) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        if state.passkeys.get(&id).is_some_and(|p| p.user_id == user) {
            state.passkeys.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn record_passkey_use(
        &self,
        id: Uuid,
        credential: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        let Some(p) = state.passkeys.get_mut(&id) else {
            return Ok(false);
        };
        credential.clone_into(&mut p.credential);
        p.last_used_at = Some(at);
        Ok(true)
    }

    async fn insert_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()> {
        let mut state = self.write();
        if ceremony
            .user_id
            .is_some_and(|u| !state.users.contains_key(&u))
        {
            return Err(StoreError::Conflict("ceremony's user does not exist"));
        }
        if state.ceremonies.contains_key(&ceremony.id) {
            return Err(StoreError::Conflict("ceremony already exists"));
        }
        self.count_writes(1);
        state.ceremonies.insert(ceremony.id, ceremony.clone());
        Ok(())
    }

    async fn take_ceremony(&self, id: Uuid) -> StoreResult<Option<Ceremony>> {
        self.count_writes(1);
        Ok(self.write().ceremonies.remove(&id))
    }

    async fn sweep_ceremonies(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.count_writes(1);
        let mut state = self.write();
        let n = state.ceremonies.len();
        state.ceremonies.retain(|_, c| c.expires_at >= before);
        Ok((n - state.ceremonies.len()) as u64)
    }
}
