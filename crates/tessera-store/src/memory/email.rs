//! Link tokens and the mail outbox in memory.

use async_trait::async_trait;
use tessera_core::mail::{EmailToken, EmailTokenPurpose, OutboxMail};
use tessera_core::store::{EmailTokenStore, MailOutbox, StoreResult};
use tessera_core::{StoreError, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::MemoryStore;

#[async_trait]
impl EmailTokenStore for MemoryStore {
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()> {
        let mut state = self.write();
        if state.email_tokens.contains_key(&token.id)
            || state
                .email_tokens
                .values()
                .any(|t| t.token_hash == token.token_hash)
        {
            return Err(StoreError::Conflict("email token already exists"));
        }
        if !state.users.contains_key(&token.user_id) {
            return Err(StoreError::Conflict("email token's user does not exist"));
        }
        self.count_writes(2);
        for old in state.email_tokens.values_mut() {
            if old.user_id == token.user_id && old.purpose == token.purpose && old.used_at.is_none()
            {
                old.used_at = Some(token.created_at);
            }
        }
        state.email_tokens.insert(token.id, token.clone());
        Ok(())
    }

    async fn email_token_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<EmailToken>> {
        Ok(self
            .read()
            .email_tokens
            .values()
            .find(|t| t.token_hash == *hash)
            .cloned())
    }

    async fn spend_email_token(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self
            .write()
            .email_tokens
            .get_mut(&id)
            .is_some_and(|t| t.used_at.is_none() && t.used_at.replace(at).is_none()))
    }

    async fn invalidate_email_tokens(
        &self,
        user: UserId,
        purpose: Option<EmailTokenPurpose>,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        self.count_writes(1);
        let mut n = 0;
        for t in self.write().email_tokens.values_mut() {
            if t.user_id == user && purpose.is_none_or(|p| p == t.purpose) && t.used_at.is_none() {
                t.used_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn sweep_email_tokens(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.count_writes(1);
        let mut state = self.write();
        let count = state.email_tokens.len();
        state.email_tokens.retain(|_, t| t.expires_at >= before);
        Ok((count - state.email_tokens.len()) as u64)
    }
}

#[async_trait]
impl MailOutbox for MemoryStore {
    async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()> {
        let mut state = self.write();
        if state.outbox.contains_key(&mail.id) {
            return Err(StoreError::Conflict("outbox mail already exists"));
        }
        self.count_writes(1);
        state.outbox.insert(mail.id, mail.clone());
        Ok(())
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMail>> {
        self.count_writes(1);
        let mut state = self.write();
        let mut due: Vec<&mut OutboxMail> = state
            .outbox
            .values_mut()
            .filter(|m| {
                m.failed_at.is_none()
                    && m.next_attempt_at <= now
                    && m.lease_until.is_none_or(|l| l <= now)
            })
            .collect();
        due.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|m| {
                m.lease_until = Some(lease_until);
                m.attempts += 1;
                m.clone()
            })
            .collect())
    }

    async fn finish_mail(&self, id: Uuid) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().outbox.remove(&id).is_some())
    }

    async fn retry_mail(
        &self,
        id: Uuid,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().outbox.get_mut(&id).is_some_and(|m| {
            m.lease_until = None;
            m.next_attempt_at = next_attempt_at;
            m.last_error = Some(error.chars().take(500).collect());
            true
        }))
    }

    async fn fail_mail(&self, id: Uuid, at: OffsetDateTime, error: &str) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().outbox.get_mut(&id).is_some_and(|m| {
            m.lease_until = None;
            m.failed_at = Some(at);
            m.last_error = Some(error.chars().take(500).collect());
            true
        }))
    }

    async fn list_mail(&self, limit: u32) -> StoreResult<Vec<OutboxMail>> {
        let mut all: Vec<OutboxMail> = self.read().outbox.values().cloned().collect();
        all.sort_by_key(|m| (m.created_at, m.id));
        all.truncate(limit as usize);
        Ok(all)
    }

    async fn pending_mail(&self) -> StoreResult<u64> {
        Ok(self
            .read()
            .outbox
            .values()
            .filter(|m| m.failed_at.is_none())
            .count() as u64)
    }
}
