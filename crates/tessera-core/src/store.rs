//! The storage traits. Every backend (memory, SQLite, Postgres) implements all of them and must
//! pass the conformance suite in `tessera-store`.
//!
//! Rules live in core, not in the backends: stores persist and query, and report conflicts. The
//! one exception is [`RefreshStore::spend`], whose atomicity only the backend can guarantee.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::authz::{CustomClaims, Roles};
use crate::error::StoreError;
use crate::factor::{Amr, Factor, FactorKind, MfaChallenge};
use crate::mail::{EmailToken, EmailTokenPurpose, OutboxMail};
use crate::model::{
    AuditEvent, AuditQuery, Client, KeyState, NewAuditEvent, RefreshToken, Session,
    SigningKeyRecord, SpendOutcome, User,
};
use crate::passkey::{Ceremony, PasskeyRecord};
use crate::secret::TokenHash;
use crate::types::{ClientId, Email, SessionId, UserId};

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the (normalised) email is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>>;
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn set_locked(&self, id: UserId, locked: bool, at: OffsetDateTime) -> StoreResult<bool>;
    /// Replaces the user's roles with `roles` only if they are still `expected` (compare and
    /// set, so that two concurrent edits cannot lose one another). False when the user is gone
    /// or its roles are no longer `expected`.
    async fn replace_roles(
        &self,
        id: UserId,
        expected: &Roles,
        roles: &Roles,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Replaces the user's custom claims. False when the user is gone.
    async fn set_claims(
        &self,
        id: UserId,
        claims: &CustomClaims,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Marks the address verified at `at` if it still is `email` (a link sent to an address
    /// proves only that address). Returns false otherwise or for an unknown user.
    async fn set_email_verified(
        &self,
        id: UserId,
        email: &Email,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Moves the account to `email`, verified at `at`. [`StoreError::Conflict`] when another
    /// account has it.
    async fn set_email(&self, id: UserId, email: &Email, at: OffsetDateTime) -> StoreResult<bool>;
}

#[async_trait]
pub trait EmailTokenStore: Send + Sync {
    /// Stores a new link token and, in the same transaction, invalidates (sets `used_at` to
    /// `token.created_at`) every unused token of the same user and purpose: only the newest
    /// link of a kind works.
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()>;
    async fn email_token_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<EmailToken>>;
    /// Spends the token: true for exactly one caller, only while it is unused.
    async fn spend_email_token(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<bool>;
    /// Invalidates every unused token of `user` (of `purpose`, or all). Returns how many.
    async fn invalidate_email_tokens(
        &self,
        user: UserId,
        purpose: Option<EmailTokenPurpose>,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Deletes tokens that expired before `before`.
    async fn sweep_email_tokens(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// The durable outbox: a mail is queued in the request that asks for it and sent by a
/// background sender, which claims rows under a lease so that several instances never send one
/// row twice while the lease holds.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()>;
    /// Claims up to `limit` rows due at `now` (not failed, `next_attempt_at <= now`, no lease or
    /// an expired one): sets their lease to `lease_until` and counts an attempt. Concurrent
    /// claimers get disjoint rows. Oldest due first.
    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMail>>;
    /// The mail went out (or was not needed): the row is deleted.
    async fn finish_mail(&self, id: uuid::Uuid) -> StoreResult<bool>;
    /// Releases the lease and schedules the next attempt.
    async fn retry_mail(
        &self,
        id: uuid::Uuid,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> StoreResult<bool>;
    /// Gives up on the row; it stays for operators to see.
    async fn fail_mail(&self, id: uuid::Uuid, at: OffsetDateTime, error: &str)
        -> StoreResult<bool>;
    /// Rows not sent and not given up on.
    async fn pending_mail(&self) -> StoreResult<u64>;
    /// Up to `limit` rows still in the outbox (pending or given up on), oldest first: for
    /// operators and tests.
    async fn list_mail(&self, limit: u32) -> StoreResult<Vec<OutboxMail>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The session whose secret hashes to `hash`, revoked or not; liveness is core's decision.
    async fn session_by_secret_hash(&self, hash: &TokenHash) -> StoreResult<Option<Session>>;
    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>>;
    /// Sessions of a user that are not revoked and whose expiry is after `now`, oldest first.
    async fn live_sessions_of_user(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>>;
    /// Records activity. Returns false if the session no longer exists or is revoked.
    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Marks one session revoked. Returns true only if it was not revoked before.
    async fn revoke_session(&self, id: SessionId, at: OffsetDateTime) -> StoreResult<bool>;
    /// Revokes every unrevoked session of `user` except `keep`, returning the ids revoked.
    async fn revoke_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<SessionId>>;
    /// Sessions revoked at or after `since`: what an instance loads at start (or after losing
    /// the revocation feed) to rebuild its revoked-session set.
    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(SessionId, OffsetDateTime)>>;
    /// Deletes sessions that expired before `expired_before` and sessions revoked before
    /// `revoked_before`, together with their refresh tokens. Returns how many sessions went.
    async fn sweep_sessions(
        &self,
        expired_before: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait RefreshStore: Send + Sync {
    async fn insert_refresh(&self, token: &RefreshToken) -> StoreResult<()>;
    async fn refresh_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<RefreshToken>>;
    /// Atomically spends `old_id` (only if unspent and unrevoked) and inserts `successor`: at
    /// most two writes in one transaction. Of N concurrent callers exactly one gets
    /// [`SpendOutcome::Rotated`].
    async fn spend_refresh(
        &self,
        old_id: uuid::Uuid,
        at: OffsetDateTime,
        successor: &RefreshToken,
    ) -> StoreResult<SpendOutcome>;
    async fn refresh_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<RefreshToken>>;
    /// Every token of the family still stored, oldest first (ties by id): the chain of
    /// rotations, for audits and for tests that count what a race minted.
    async fn refresh_family(&self, family_id: uuid::Uuid) -> StoreResult<Vec<RefreshToken>>;
    /// Revokes every token of the family; returns how many were newly revoked.
    async fn revoke_refresh_family(
        &self,
        family_id: uuid::Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;
    async fn revoke_refresh_of_session(
        &self,
        session: SessionId,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// All keys, oldest first.
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn set_key_state(
        &self,
        kid: &str,
        state: KeyState,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn delete_key(&self, kid: &str) -> StoreResult<bool>;
    /// The server secret called `name`, storing `candidate` first if there is none yet. Every
    /// instance on one store gets the same bytes (the first writer wins), so values derived
    /// from it — CSRF tokens, refresh-token successors — agree across instances and restarts.
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    async fn client_by_id(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool>;
}

/// Second factors, recovery codes and the pending second steps of logins.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Stores a factor being enrolled, replacing an unconfirmed one of the same user and kind.
    /// [`StoreError::Conflict`] when the user already has a confirmed factor of that kind.
    async fn put_factor(&self, factor: &Factor) -> StoreResult<()>;
    /// Every factor of `user`, confirmed or not, oldest first.
    async fn factors_of_user(&self, user: UserId) -> StoreResult<Vec<Factor>>;
    /// Confirms an unconfirmed factor. False when it is gone or already confirmed.
    async fn confirm_factor(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<bool>;
    /// Records that the code of time step `step` was used, only if no step at or after it was
    /// (compare and set): of concurrent uses of one code, exactly one gets true.
    async fn advance_factor_step(&self, id: uuid::Uuid, step: i64) -> StoreResult<bool>;
    /// Deletes the user's factors of `kind` (every kind with `None`); returns how many.
    async fn delete_factors(&self, user: UserId, kind: Option<FactorKind>) -> StoreResult<u64>;
    /// Replaces every recovery code of `user` with `hashes` (none: the user has no codes).
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Spends one unused recovery code of `user`: true for exactly one caller.
    async fn spend_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// How many unused recovery codes `user` has left.
    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<u32>;
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> StoreResult<()>;
    async fn mfa_challenge_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<MfaChallenge>>;
    /// Spends the challenge: true for exactly one caller, only while it is unused.
    async fn spend_mfa_challenge(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<bool>;
    /// Deletes challenges that expired before `before`.
    async fn sweep_mfa_challenges(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// Records a second factor proven on a live session now (a step-up): `amr` and
    /// `factor_at`. False when the session is gone or revoked.
    async fn set_session_factor(
        &self,
        id: SessionId,
        amr: Amr,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_event(&self, event: &NewAuditEvent) -> StoreResult<i64>;
    /// Newest first, at most `query.limit` events.
    async fn list_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
}

/// Passkeys and the pending WebAuthn ceremonies.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// [`StoreError::Conflict`] when the credential id is registered already (to anyone).
    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> StoreResult<()>;
    /// Oldest first.
    async fn passkeys_of_user(&self, user: UserId) -> StoreResult<Vec<PasskeyRecord>>;
    /// False when `user` has no passkey `id`.
    async fn rename_passkey(&self, user: UserId, id: uuid::Uuid, name: &str) -> StoreResult<bool>;
    /// False when `user` has no passkey `id`.
    async fn delete_passkey(&self, user: UserId, id: uuid::Uuid) -> StoreResult<bool>;
    /// Stores the credential as updated by a sign-in (its counter) and when it was used.
    async fn record_passkey_use(
        &self,
        id: uuid::Uuid,
        credential: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Removes and returns the ceremony: whoever takes it first owns it, so a ceremony finishes
    /// once at most, even when two finishes race on two instances. Expired ones are returned
    /// too (the caller checks), until swept.
    async fn take_ceremony(&self, id: uuid::Uuid) -> StoreResult<Option<Ceremony>>;
    /// Deletes the ceremonies that expired before `before`.
    async fn sweep_ceremonies(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Everything a Tessera server needs from its storage.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + RefreshStore
    + KeyStore
    + ClientStore
    + AuditLog
    + EmailTokenStore
    + MailOutbox
    + FactorStore
    + PasskeyStore
    + std::fmt::Debug
    + Send
    + Sync
{
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Short name of the backend for logs and metrics (`memory`, `sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
}
