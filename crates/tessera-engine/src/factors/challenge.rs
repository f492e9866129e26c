//! The pending second step of a login. The password step of an account with a second factor
//! yields only a challenge: a `tsm_` secret (stored as its SHA-256, in the store so that any
//! instance can complete it), single use, valid for `mfa.challenge_ttl`. It is no credential:
//! [`tessera_core::Presented::classify`] does not know its prefix, so every endpoint that takes
//! a credential refuses it; only the completion endpoints read it.

use serde_json::json;
use tessera_core::factor::{ChallengePurpose, MfaChallenge};
use tessera_core::{FactorKind, SecretToken, SessionKind, TokenKind, User};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{verify, Proof};
use crate::error::{EngineError, EngineResult};
use crate::sessions::{self, Authn, Login};
use crate::{AuditKind, Caller, Engine};

/// A challenge handed to the client: the secret (shown once) and what may complete it.
#[derive(Debug)]
pub struct Challenge {
    pub token: SecretToken,
    pub methods: Vec<FactorKind>,
    pub expires_at: OffsetDateTime,
}

/// What a completed challenge allows: a session for `user`, of `purpose`, authenticated as
/// `authn` (password and the factor just proven).
#[derive(Debug)]
pub struct Completed {
    pub user: User,
    pub purpose: ChallengePurpose,
    pub authn: Authn,
}

/// Which endpoint is completing: a challenge is completed only where its login started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletedAt {
    /// `POST /v1/session/mfa` or the sign-in page's second step.
    Session,
    /// The token endpoint's `mfa-otp` grant.
    TokenEndpoint,
}

/// After a correct password: nothing when `user` has no second factor, else
/// [`EngineError::SecondFactorRequired`] with a fresh challenge.
pub async fn require_if_enrolled(
    engine: &Engine,
    user: &User,
    purpose: ChallengePurpose,
    caller: &Caller,
) -> EngineResult<()> {
    let methods = super::methods_of(engine, user.id).await?;
    if methods.is_empty() {
        return Ok(());
    }
    let now = engine.clock.now();
    let token = SecretToken::generate(TokenKind::MfaChallenge);
    let challenge = MfaChallenge {
        id: Uuid::new_v4(),
        user_id: user.id,
        token_hash: token.hash(),
        purpose,
        created_at: now,
        expires_at: now + engine.settings.mfa.challenge_ttl,
        used_at: None,
    };
    engine.store.insert_mfa_challenge(&challenge).await?;
    engine
        .audit(
            AuditKind::SecondFactorRequired,
            Some(user.id),
            None,
            Some(caller),
            json!({}),
        )
        .await;
    metrics::counter!("tessera_logins_total", "result" => "second_factor_required").increment(1);
    Err(EngineError::SecondFactorRequired(Box::new(Challenge {
        token,
        methods,
        expires_at: challenge.expires_at,
    })))
}

/// The second step of a session login (`POST /v1/session/mfa`, the sign-in page): completes
/// the challenge and opens a brand-new session of `kind` recording both factors.
pub async fn complete_session_login(
    engine: &Engine,
    presented: &str,
    proof: Proof,
    kind: SessionKind,
    caller: &Caller,
) -> EngineResult<Login> {
    let done = complete(engine, presented, proof, CompletedAt::Session, caller).await?;
    sessions::open_login(engine, done.user, kind, None, done.authn, caller).await
}

/// Completes a challenge with `proof`. A wrong, spent, expired or foreign challenge, a wrong
/// code and a locked account are all [`EngineError::InvalidGrant`]; a wrong code leaves the
/// challenge usable (people mistype) while the per-user factor throttle counts it.
pub async fn complete(
    engine: &Engine,
    presented: &str,
    proof: Proof,
    at: CompletedAt,
    caller: &Caller,
) -> EngineResult<Completed> {
    let now = engine.clock.now();
    let challenge = pending(engine, presented).await?;
    let expected = match at {
        CompletedAt::Session => matches!(challenge.purpose, ChallengePurpose::Session),
        CompletedAt::TokenEndpoint => matches!(challenge.purpose, ChallengePurpose::Token { .. }),
    };
    if !expected {
        return Err(EngineError::InvalidGrant);
    }
    let user = match engine.store.user_by_id(challenge.user_id).await? {
        Some(user) if !user.locked => user,
        _ => return Err(EngineError::InvalidGrant),
    };
    let (_, proven) = verify(engine, user.id, proof, caller).await?;
    // Two completions racing with two good codes: one session, not two.
    if !engine.store.spend_mfa_challenge(challenge.id, now).await? {
        return Err(EngineError::InvalidGrant);
    }
    Ok(Completed {
        user,
        purpose: challenge.purpose,
        authn: Authn {
            amr: tessera_core::Amr::PASSWORD.union(proven),
            factor_at: Some(now),
        },
    })
}

/// The live pending step `presented` names: unknown, spent and expired ones are
/// [`EngineError::InvalidGrant`].
async fn pending(engine: &Engine, presented: &str) -> EngineResult<MfaChallenge> {
    let now = engine.clock.now();
    let Some(secret) = SecretToken::parse(TokenKind::MfaChallenge, presented.trim()) else {
        return Err(EngineError::InvalidGrant);
    };
    let Some(challenge) = engine.store.mfa_challenge_by_hash(&secret.hash()).await? else {
        return Err(EngineError::InvalidGrant);
    };
    // The store found it by this hash; comparing again keeps the guarantee constant-time.
    if challenge.token_hash != secret.hash()
        || challenge.used_at.is_some()
        || now >= challenge.expires_at
    {
        return Err(EngineError::InvalidGrant);
    }
    Ok(challenge)
}

/// Starts a passkey assertion for the user of the pending step `presented`: the options for
/// `navigator.credentials.get()`, answered with `POST /v1/session/mfa`.
pub async fn passkey_options(
    engine: &Engine,
    presented: &str,
) -> EngineResult<super::passkeys::Started<webauthn_rs::prelude::RequestChallengeResponse>> {
    let challenge = pending(engine, presented).await?;
    super::passkeys::start_second_factor(engine, challenge.user_id).await
}
