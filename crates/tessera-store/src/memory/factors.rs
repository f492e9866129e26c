//! Second factors, recovery codes and pending login steps in memory.

use async_trait::async_trait;
use tessera_core::factor::{Amr, Factor, FactorKind, MfaChallenge};
use tessera_core::store::{FactorStore, StoreResult};
use tessera_core::{SessionId, StoreError, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::MemoryStore;

#[async_trait]
impl FactorStore for MemoryStore {
    async fn put_factor(&self, factor: &Factor) -> StoreResult<()> {
        let mut state = self.write();
        if !state.users.contains_key(&factor.user_id) {
            return Err(StoreError::Conflict("factor's user does not exist"));
        }
        let same_kind = |f: &Factor| f.user_id == factor.user_id && f.kind == factor.kind;
        if state
            .factors
            .values()
            .any(|f| same_kind(f) && f.confirmed_at.is_some())
        {
            return Err(StoreError::Conflict(
                "the user already has a confirmed factor of this kind",
            ));
        }
        if state.factors.contains_key(&factor.id) {
            return Err(StoreError::Conflict("factor already exists"));
        }
        self.count_writes(2);
        state.factors.retain(|_, f| !same_kind(f));
        state.factors.insert(factor.id, factor.clone());
        Ok(())
    }

    async fn factors_of_user(&self, user: UserId) -> StoreResult<Vec<Factor>> {
        let mut factors: Vec<Factor> = self
            .read()
            .factors
            .values()
            .filter(|f| f.user_id == user)
            .cloned()
            .collect();
        factors.sort_by_key(|f| (f.created_at, f.id));
        Ok(factors)
    }

    async fn confirm_factor(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self
            .write()
            .factors
            .get_mut(&id)
            .is_some_and(|f| f.confirmed_at.is_none() && f.confirmed_at.replace(at).is_none()))
    }

    async fn advance_factor_step(&self, id: Uuid, step: i64) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        let Some(factor) = state.factors.get_mut(&id) else {
            return Ok(false);
        };
        if factor.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        factor.last_step = Some(step);
        Ok(true)
    }

    async fn delete_factors(&self, user: UserId, kind: Option<FactorKind>) -> StoreResult<u64> {
        self.count_writes(1);
        let mut state = self.write();
        let before = state.factors.len();
        state
            .factors
            .retain(|_, f| !(f.user_id == user && kind.is_none_or(|k| k == f.kind)));
        Ok((before - state.factors.len()) as u64)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        _at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut state = self.write();
        if !state.users.contains_key(&user) {
            return Err(StoreError::Conflict("recovery code's user does not exist"));
        }
        self.count_writes(1 + hashes.len() as u64);
        state.recovery_codes.retain(|(owner, _), _| *owner != user);
        for hash in hashes {
            state.recovery_codes.insert((user, *hash), None);
        }
        Ok(())
    }

    async fn spend_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self
            .write()
            .recovery_codes
            .get_mut(&(user, *hash))
            .is_some_and(|used| used.is_none() && used.replace(at).is_none()))
    }

    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<u32> {
        let left = self
            .read()
            .recovery_codes
            .iter()
            .filter(|((owner, _), used)| *owner == user && used.is_none())
            .count();
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> StoreResult<()> {
        let mut state = self.write();
        if state.mfa_challenges.contains_key(&challenge.id)
            || state
                .mfa_challenges
                .values()
                .any(|c| c.token_hash == challenge.token_hash)
        {
            return Err(StoreError::Conflict("challenge already exists"));
        }
        if !state.users.contains_key(&challenge.user_id) {
            return Err(StoreError::Conflict("challenge's user does not exist"));
        }
        self.count_writes(1);
        state.mfa_challenges.insert(challenge.id, challenge.clone());
        Ok(())
    }

    async fn mfa_challenge_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<MfaChallenge>> {
        Ok(self
            .read()
            .mfa_challenges
            .values()
            .find(|c| c.token_hash == *hash)
            .cloned())
    }

    async fn spend_mfa_challenge(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self
            .write()
            .mfa_challenges
            .get_mut(&id)
            .is_some_and(|c| c.used_at.is_none() && c.used_at.replace(at).is_none()))
    }

    async fn sweep_mfa_challenges(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.count_writes(1);
        let mut state = self.write();
        let count = state.mfa_challenges.len();
        state.mfa_challenges.retain(|_, c| c.expires_at >= before);
        Ok((count - state.mfa_challenges.len()) as u64)
    }

    async fn set_session_factor(
        &self,
        id: SessionId,
        amr: Amr,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        match state.sessions.get_mut(&id) {
            Some(session) if session.revoked_at.is_none() => {
                session.amr = amr;
                session.factor_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
