//! An in-process store: everything in one lock-protected state, nothing persisted. For tests and
//! for single-process demos; it honours the same contract (uniqueness, parent rows, atomic
//! spend) as the SQL backends so that code tested against it behaves the same on them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

mod email;
mod factors;
mod passkeys;

use async_trait::async_trait;
use tessera_core::mail::{EmailToken, OutboxMail};
use tessera_core::model::{
    AuditEvent, AuditQuery, Client, KeyState, NewAuditEvent, RefreshToken, Session,
    SigningKeyRecord, SpendOutcome, User,
};
use tessera_core::store::{
    AuditLog, ClientStore, KeyStore, RefreshStore, SessionStore, Store, StoreResult, UserStore,
};
use tessera_core::{
    ClientId, CustomClaims, Email, Roles, SessionId, StoreError, TokenHash, UserId,
};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
    writes: AtomicU64,
}

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    user_by_email: HashMap<Email, UserId>,
    sessions: HashMap<SessionId, Session>,
    session_by_hash: HashMap<TokenHash, SessionId>,
    refresh: HashMap<Uuid, RefreshToken>,
    refresh_by_hash: HashMap<TokenHash, Uuid>,
    keys: HashMap<String, SigningKeyRecord>,
    server_secrets: HashMap<String, Vec<u8>>,
    clients: HashMap<ClientId, Client>,
    audit: Vec<AuditEvent>,
    email_tokens: HashMap<Uuid, EmailToken>,
    outbox: HashMap<Uuid, OutboxMail>,
    factors: HashMap<Uuid, tessera_core::Factor>,
    /// Recovery codes by owner and hash: when each was used.
    recovery_codes: HashMap<(UserId, TokenHash), Option<OffsetDateTime>>,
    mfa_challenges: HashMap<Uuid, tessera_core::MfaChallenge>,
    passkeys: HashMap<Uuid, tessera_core::PasskeyRecord>,
    ceremonies: HashMap<Uuid, tessera_core::Ceremony>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many write operations (the equivalent of INSERT/UPDATE/DELETE statements) ran so far.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn count_writes(&self, n: u64) {
        self.writes.fetch_add(n, Ordering::Relaxed);
    }

    // A panic in another thread while holding the lock cannot leave the maps half-updated
    // (every mutation is checked before it starts), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    // Counts only: the records hold password hashes and private keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("MemoryStore")
            .field("users", &state.users.len())
            .field("sessions", &state.sessions.len())
            .field("refresh_tokens", &state.refresh.len())
            .field("keys", &state.keys.len())
            .field("clients", &state.clients.len())
            .field("audit_events", &state.audit.len())
            .field("writes", &self.write_count())
            .finish()
    }
}

impl State {
    fn check_refresh_insert(&self, token: &RefreshToken) -> StoreResult<()> {
        if self.refresh.contains_key(&token.id)
            || self.refresh_by_hash.contains_key(&token.token_hash)
        {
            return Err(StoreError::Conflict("refresh token already exists"));
        }
        if !self.sessions.contains_key(&token.session_id) {
            return Err(StoreError::Conflict(
                "refresh token's session does not exist",
            ));
        }
        Ok(())
    }

    fn insert_refresh(&mut self, token: &RefreshToken) {
        self.refresh_by_hash.insert(token.token_hash, token.id);
        self.refresh.insert(token.id, token.clone());
    }

    fn delete_session(&mut self, id: SessionId) {
        if let Some(session) = self.sessions.remove(&id) {
            self.session_by_hash.remove(&session.secret_hash);
        }
        let doomed: Vec<Uuid> = self
            .refresh
            .values()
            .filter(|t| t.session_id == id)
            .map(|t| t.id)
            .collect();
        for token_id in doomed {
            if let Some(token) = self.refresh.remove(&token_id) {
                self.refresh_by_hash.remove(&token.token_hash);
            }
        }
    }
}

/// The earlier of the idle and absolute expiry: the moment `SessionLifetimes::is_live` turns
/// false for an unrevoked session.
fn ends_at(session: &Session) -> OffsetDateTime {
    session.idle_expires_at.min(session.expires_at)
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut state = self.write();
        if state.user_by_email.contains_key(&user.email) {
            return Err(StoreError::Conflict(crate::EMAIL_TAKEN));
        }
        if state.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("user id already exists"));
        }
        self.count_writes(1);
        state.user_by_email.insert(user.email.clone(), user.id);
        state.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.read().users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let state = self.read();
        Ok(state
            .user_by_email
            .get(email)
            .and_then(|id| state.users.get(id))
            .cloned())
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().users.get_mut(&id).is_some_and(|user| {
            hash.clone_into(&mut user.password_hash);
            user.updated_at = at;
            true
        }))
    }

    async fn set_locked(&self, id: UserId, locked: bool, at: OffsetDateTime) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().users.get_mut(&id).is_some_and(|user| {
            user.locked = locked;
            user.updated_at = at;
            true
        }))
    }

    async fn replace_roles(
        &self,
        id: UserId,
        expected: &Roles,
        roles: &Roles,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut state = self.write();
        let Some(user) = state.users.get_mut(&id).filter(|u| u.roles == *expected) else {
            return Ok(false);
        };
        self.count_writes(1);
        user.roles = roles.clone();
        user.updated_at = at;
        Ok(true)
    }

    async fn set_claims(
        &self,
        id: UserId,
        claims: &CustomClaims,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().users.get_mut(&id).is_some_and(|user| {
            user.claims = claims.clone();
            user.updated_at = at;
            true
        }))
    }

    async fn set_email_verified(
        &self,
        id: UserId,
        email: &Email,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().users.get_mut(&id).is_some_and(|user| {
            if user.email != *email {
                return false;
            }
            user.email_verified_at.get_or_insert(at);
            user.updated_at = at;
            true
        }))
    }

    async fn set_email(&self, id: UserId, email: &Email, at: OffsetDateTime) -> StoreResult<bool> {
        let mut state = self.write();
        let Some(old) = state.users.get(&id).map(|u| u.email.clone()) else {
            return Ok(false);
        };
        if state
            .user_by_email
            .get(email)
            .is_some_and(|owner| *owner != id)
        {
            return Err(StoreError::Conflict(crate::EMAIL_TAKEN));
        }
        self.count_writes(1);
        state.user_by_email.remove(&old);
        state.user_by_email.insert(email.clone(), id);
        if let Some(user) = state.users.get_mut(&id) {
            user.email = email.clone();
            user.email_verified_at = Some(at);
            user.updated_at = at;
        }
        Ok(true)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let mut state = self.write();
        if state.sessions.contains_key(&session.id)
            || state.session_by_hash.contains_key(&session.secret_hash)
        {
            return Err(StoreError::Conflict("session already exists"));
        }
        if !state.users.contains_key(&session.user_id) {
            return Err(StoreError::Conflict("session's user does not exist"));
        }
        self.count_writes(1);
        state
            .session_by_hash
            .insert(session.secret_hash, session.id);
        state.sessions.insert(session.id, session.clone());
        Ok(())
    }

    async fn session_by_secret_hash(&self, hash: &TokenHash) -> StoreResult<Option<Session>> {
        let state = self.read();
        Ok(state
            .session_by_hash
            .get(hash)
            .and_then(|id| state.sessions.get(id))
            .cloned())
    }

    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self.read().sessions.get(&id).cloned())
    }

    async fn live_sessions_of_user(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>> {
        let mut live: Vec<Session> = self
            .read()
            .sessions
            .values()
            .filter(|s| s.user_id == user && s.revoked_at.is_none() && ends_at(s) > now)
            .cloned()
            .collect();
        live.sort_by_key(|s| (s.created_at, s.id));
        Ok(live)
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        match state.sessions.get_mut(&id) {
            Some(session) if session.revoked_at.is_none() => {
                session.last_seen_at = last_seen_at;
                session.idle_expires_at = idle_expires_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_session(&self, id: SessionId, at: OffsetDateTime) -> StoreResult<bool> {
        self.count_writes(1);
        let mut state = self.write();
        match state.sessions.get_mut(&id) {
            Some(session) if session.revoked_at.is_none() => {
                session.revoked_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<SessionId>> {
        self.count_writes(1);
        let mut state = self.write();
        let mut revoked: Vec<SessionId> = state
            .sessions
            .values_mut()
            .filter(|s| s.user_id == user && s.revoked_at.is_none() && Some(s.id) != keep)
            .map(|s| {
                s.revoked_at = Some(at);
                s.id
            })
            .collect();
        revoked.sort_unstable();
        Ok(revoked)
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(SessionId, OffsetDateTime)>> {
        let mut revoked: Vec<(SessionId, OffsetDateTime)> = self
            .read()
            .sessions
            .values()
            .filter_map(|s| s.revoked_at.filter(|at| *at >= since).map(|at| (s.id, at)))
            .collect();
        revoked.sort_unstable_by_key(|(id, at)| (*at, *id));
        Ok(revoked)
    }

    async fn sweep_sessions(
        &self,
        expired_before: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        // Refresh tokens first, then sessions: the two DELETEs a SQL backend runs.
        self.count_writes(2);
        let mut state = self.write();
        let doomed: Vec<SessionId> = state
            .sessions
            .values()
            .filter(|s| {
                ends_at(s) < expired_before || s.revoked_at.is_some_and(|at| at < revoked_before)
            })
            .map(|s| s.id)
            .collect();
        for id in &doomed {
            state.delete_session(*id);
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn insert_refresh(&self, token: &RefreshToken) -> StoreResult<()> {
        let mut state = self.write();
        state.check_refresh_insert(token)?;
        self.count_writes(1);
        state.insert_refresh(token);
        Ok(())
    }

    async fn refresh_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<RefreshToken>> {
        let state = self.read();
        Ok(state
            .refresh_by_hash
            .get(hash)
            .and_then(|id| state.refresh.get(id))
            .cloned())
    }

    async fn spend_refresh(
        &self,
        old_id: Uuid,
        at: OffsetDateTime,
        successor: &RefreshToken,
    ) -> StoreResult<SpendOutcome> {
        // One write lock for check, spend and insert is what makes this atomic.
        let mut state = self.write();
        self.count_writes(1);
        let Some(old) = state.refresh.get(&old_id) else {
            return Ok(SpendOutcome::NotFound);
        };
        if old.used_at.is_some() || old.revoked_at.is_some() {
            return Ok(SpendOutcome::AlreadySpent(old.clone()));
        }
        // Checked before anything changes, so a failed insert leaves the old token unspent,
        // as the rolled-back transaction of a SQL backend would.
        state.check_refresh_insert(successor)?;
        self.count_writes(1);
        if let Some(old) = state.refresh.get_mut(&old_id) {
            old.used_at = Some(at);
            old.successor_id = Some(successor.id);
        }
        state.insert_refresh(successor);
        Ok(SpendOutcome::Rotated)
    }

    async fn refresh_by_id(&self, id: Uuid) -> StoreResult<Option<RefreshToken>> {
        Ok(self.read().refresh.get(&id).cloned())
    }

    async fn refresh_family(&self, family_id: Uuid) -> StoreResult<Vec<RefreshToken>> {
        let mut family: Vec<RefreshToken> = self
            .read()
            .refresh
            .values()
            .filter(|t| t.family_id == family_id)
            .cloned()
            .collect();
        family.sort_by_key(|t| (t.created_at, t.id));
        Ok(family)
    }

    async fn revoke_refresh_family(&self, family_id: Uuid, at: OffsetDateTime) -> StoreResult<u64> {
        self.count_writes(1);
        Ok(revoke_where(&mut self.write(), at, |t| {
            t.family_id == family_id
        }))
    }

    async fn revoke_refresh_of_session(
        &self,
        session: SessionId,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        self.count_writes(1);
        Ok(revoke_where(&mut self.write(), at, |t| {
            t.session_id == session
        }))
    }
}

fn revoke_where(
    state: &mut State,
    at: OffsetDateTime,
    matches: impl Fn(&RefreshToken) -> bool,
) -> u64 {
    let mut count = 0;
    for token in state.refresh.values_mut() {
        if token.revoked_at.is_none() && matches(token) {
            token.revoked_at = Some(at);
            count += 1;
        }
    }
    count
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let mut state = self.write();
        if state.keys.contains_key(&key.kid) {
            return Err(StoreError::Conflict("signing key id already exists"));
        }
        self.count_writes(1);
        state.keys.insert(key.kid.clone(), key.clone());
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut keys: Vec<SigningKeyRecord> = self.read().keys.values().cloned().collect();
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(keys)
    }

    async fn set_key_state(
        &self,
        kid: &str,
        state: KeyState,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().keys.get_mut(kid).is_some_and(|key| {
            key.state = state;
            match state {
                KeyState::Next => {}
                KeyState::Current => key.activated_at = Some(at),
                KeyState::Retired => key.retired_at = Some(at),
            }
            true
        }))
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().keys.remove(kid).is_some())
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let mut state = self.write();
        if let Some(existing) = state.server_secrets.get(name) {
            return Ok(existing.clone());
        }
        self.count_writes(1);
        state
            .server_secrets
            .insert(name.to_owned(), candidate.to_vec());
        Ok(candidate.to_vec())
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        let mut state = self.write();
        if state.clients.contains_key(&client.id) {
            return Err(StoreError::Conflict("client id already exists"));
        }
        self.count_writes(1);
        state.clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn client_by_id(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        Ok(self.read().clients.get(id).cloned())
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let mut clients: Vec<Client> = self.read().clients.values().cloned().collect();
        clients.sort_by(|a, b| (a.created_at, &a.id.0).cmp(&(b.created_at, &b.id.0)));
        Ok(clients)
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        self.count_writes(1);
        Ok(self.write().clients.remove(id).is_some())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append_event(&self, event: &NewAuditEvent) -> StoreResult<i64> {
        self.count_writes(1);
        let mut state = self.write();
        let id = state.audit.last().map_or(1, |last| last.id + 1);
        state.audit.push(AuditEvent {
            id,
            event: event.clone(),
        });
        Ok(id)
    }

    async fn list_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        Ok(self
            .read()
            .audit
            .iter()
            .rev()
            .filter(|e| query.before_id.is_none_or(|before| e.id < before))
            .filter(|e| query.user_id.is_none_or(|u| e.event.user_id == Some(u)))
            .filter(|e| query.kind.as_ref().is_none_or(|k| &e.event.kind == k))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
