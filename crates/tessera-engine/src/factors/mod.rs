//! Second factors: enrolling and removing TOTP, recovery codes, proving a factor (at login, for
//! a step-up), the step-up rule for sensitive actions, and the admin reset.
//!
//! Proving a factor is throttled per user like a password (`limits.mfa_per_user`): every
//! attempt is counted before the code is checked, a success resets the count. A TOTP code is
//! accepted for its own step and one on either side, and only once: the store moves the
//! factor's last used step forward with a compare-and-set, so a code seen in use (or sent
//! twice at once) is refused.

pub mod challenge;
pub mod passkeys;
pub mod recovery;
pub mod totp;

use std::fmt;

use serde_json::json;
use tessera_core::factor::{Amr, AuthnMethod, Factor, FactorKind};
use tessera_core::throttle::ThrottleKey;
use tessera_core::{SessionId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{EngineError, EngineResult};
use crate::sessions::rate_limited;
use crate::{sessions, AuditKind, Caller, Engine, Principal};

/// What a user presents to prove a second factor.
pub enum Proof {
    Totp(Zeroizing<String>),
    RecoveryCode(Zeroizing<String>),
    /// A WebAuthn assertion answering the second-factor ceremony `ceremony_id`.
    Passkey {
        ceremony_id: Uuid,
        credential: Box<webauthn_rs::prelude::PublicKeyCredential>,
    },
}

impl Proof {
    pub fn totp(code: &str) -> Self {
        Self::Totp(Zeroizing::new(code.to_owned()))
    }

    pub fn recovery_code(code: &str) -> Self {
        Self::RecoveryCode(Zeroizing::new(code.to_owned()))
    }

    fn kind(&self) -> FactorKind {
        match self {
            Self::Totp(_) => FactorKind::Totp,
            Self::RecoveryCode(_) => FactorKind::RecoveryCode,
            Self::Passkey { .. } => FactorKind::Passkey,
        }
    }
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proof({}, <redacted>)", self.kind())
    }
}

/// A user's second factors as the account page and `GET /v1/factors` show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The TOTP factor, confirmed or still waiting for its first code.
    pub totp: Option<TotpState>,
    pub recovery_codes_left: u32,
    pub passkeys: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpState {
    pub created_at: OffsetDateTime,
    pub confirmed_at: Option<OffsetDateTime>,
}

impl Summary {
    /// Whether sign-in asks for a second factor.
    pub fn enabled(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()) || self.passkeys > 0
    }
}

/// What a new TOTP enrolment shows once: the `otpauth://` URI (for a QR code) and the key in
/// base32 for typing in.
pub struct TotpEnrolment {
    pub otpauth_uri: Zeroizing<String>,
    pub secret: Zeroizing<String>,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

fn confirmed_totp(factors: &[Factor]) -> Option<&Factor> {
    factors
        .iter()
        .find(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_some())
}

pub async fn summary(engine: &Engine, user: UserId) -> EngineResult<Summary> {
    let factors = engine.store.factors_of_user(user).await?;
    let totp = factors
        .iter()
        .find(|f| f.kind == FactorKind::Totp)
        .map(|f| TotpState {
            created_at: f.created_at,
            confirmed_at: f.confirmed_at,
        });
    let recovery_codes_left = if totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()) {
        engine.store.recovery_codes_left(user).await?
    } else {
        0
    };
    let passkeys = engine.store.passkeys_of_user(user).await?.len();
    Ok(Summary {
        totp,
        recovery_codes_left,
        passkeys,
    })
}

/// The methods that can complete a login of `user`: empty when sign-in needs no second factor.
/// A registered passkey is a second factor as much as TOTP is.
pub async fn methods_of(engine: &Engine, user: UserId) -> EngineResult<Vec<FactorKind>> {
    let factors = engine.store.factors_of_user(user).await?;
    let mut methods = Vec::new();
    if confirmed_totp(&factors).is_some() {
        methods.extend([FactorKind::Totp, FactorKind::RecoveryCode]);
    }
    if passkeys::any(engine, user).await? {
        methods.push(FactorKind::Passkey);
    }
    Ok(methods)
}

/// Starts (or restarts) a TOTP enrolment: a fresh key, stored sealed and unconfirmed until the
/// first code proves the app has it. [`EngineError::Conflict`] when TOTP is already on.
pub async fn start_totp(
    engine: &Engine,
    p: &Principal,
    caller: &Caller,
) -> EngineResult<TotpEnrolment> {
    let now = engine.clock.now();
    let user = engine
        .store
        .user_by_id(p.user_id)
        .await?
        .ok_or(EngineError::Unauthenticated)?;
    let secret = Zeroizing::new(tessera_core::secret::random_bytes::<{ totp::SECRET_BYTES }>());
    let id = Uuid::new_v4();
    let (sealed, secret_format) =
        totp::seal(engine.tokens.encryption_key.as_ref(), id, user.id, &*secret);
    let (uri, base32) =
        totp::provisioning(&*secret, &engine.settings.mfa.issuer, user.email.as_str())?;
    engine
        .store
        .put_factor(&Factor {
            id,
            user_id: user.id,
            kind: FactorKind::Totp,
            secret: sealed,
            secret_format,
            confirmed_at: None,
            last_step: None,
            created_at: now,
        })
        .await
        .map_err(|e| match e {
            tessera_core::StoreError::Conflict(_) => {
                EngineError::Conflict("a TOTP factor is already enabled; remove it first")
            }
            other => other.into(),
        })?;
    engine
        .audit(
            AuditKind::FactorEnrolmentStarted,
            Some(user.id),
            Some(p.session_id),
            Some(caller),
            json!({ "kind": "totp" }),
        )
        .await;
    Ok(TotpEnrolment {
        otpauth_uri: Zeroizing::new(uri),
        secret: Zeroizing::new(base32),
    })
}

/// Confirms the pending TOTP enrolment with its first code and hands out a fresh set of
/// recovery codes (shown once). The session that confirmed has just proven the factor, so it
/// counts as stepped up.
pub async fn confirm_totp(
    engine: &Engine,
    p: &Principal,
    code: &str,
    caller: &Caller,
) -> EngineResult<Vec<String>> {
    let now = engine.clock.now();
    let factors = engine.store.factors_of_user(p.user_id).await?;
    let Some(pending) = factors
        .iter()
        .find(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_none())
    else {
        return Err(if confirmed_totp(&factors).is_some() {
            EngineError::Conflict("TOTP is already enabled")
        } else {
            EngineError::Conflict("no TOTP enrolment is pending; start one first")
        });
    };
    check_totp(engine, p.user_id, pending, code, caller).await?;
    if !engine.store.confirm_factor(pending.id, now).await? {
        return Err(EngineError::Conflict(
            "the enrolment changed meanwhile; start again",
        ));
    }
    let codes = new_recovery_codes(engine, p.user_id).await?;
    record_on_session(engine, p, Amr::default().with(FactorKind::Totp.method())).await?;
    engine
        .audit(
            AuditKind::FactorEnabled,
            Some(p.user_id),
            Some(p.session_id),
            Some(caller),
            json!({ "kind": "totp" }),
        )
        .await;
    Ok(codes)
}

/// Turns TOTP off (and with it the recovery codes, which only stand in for it). A sensitive
/// action: needs a recent step-up.
pub async fn remove_totp(engine: &Engine, p: &Principal, caller: &Caller) -> EngineResult<()> {
    require_step_up(engine, p).await?;
    let removed = engine
        .store
        .delete_factors(p.user_id, Some(FactorKind::Totp))
        .await?;
    if removed == 0 {
        return Err(EngineError::NotFound);
    }
    engine
        .store
        .replace_recovery_codes(p.user_id, &[], engine.clock.now())
        .await?;
    engine
        .audit(
            AuditKind::FactorRemoved,
            Some(p.user_id),
            Some(p.session_id),
            Some(caller),
            json!({ "kind": "totp" }),
        )
        .await;
    Ok(())
}

/// A fresh set of recovery codes; the old ones stop working. Needs a confirmed factor and a
/// recent step-up.
pub async fn regenerate_recovery_codes(
    engine: &Engine,
    p: &Principal,
    caller: &Caller,
) -> EngineResult<Vec<String>> {
    if confirmed_totp(&engine.store.factors_of_user(p.user_id).await?).is_none() {
        return Err(EngineError::Conflict(
            "recovery codes need a second factor; enable TOTP first",
        ));
    }
    require_step_up(engine, p).await?;
    let codes = new_recovery_codes(engine, p.user_id).await?;
    engine
        .audit(
            AuditKind::RecoveryCodesRegenerated,
            Some(p.user_id),
            Some(p.session_id),
            Some(caller),
            json!({ "count": codes.len() }),
        )
        .await;
    Ok(codes)
}

async fn new_recovery_codes(engine: &Engine, user: UserId) -> EngineResult<Vec<String>> {
    let codes: Vec<String> = (0..recovery::CODE_COUNT)
        .map(|_| recovery::generate())
        .collect();
    let hashes: Vec<_> = codes
        .iter()
        .filter_map(|c| recovery::normalize(c))
        .map(|c| recovery::hash(&c))
        .collect();
    engine
        .store
        .replace_recovery_codes(user, &hashes, engine.clock.now())
        .await?;
    Ok(codes)
}

/// `POST /v1/session/step-up`: proves a factor again on the caller's session, which makes its
/// sensitive actions available for `mfa.step_up_window` and raises it to AAL2.
pub async fn step_up(
    engine: &Engine,
    p: &Principal,
    proof: Proof,
    caller: &Caller,
) -> EngineResult<()> {
    if methods_of(engine, p.user_id).await?.is_empty() {
        return Err(EngineError::Conflict("no second factor is enabled"));
    }
    let (kind, amr) = verify(engine, p.user_id, proof, caller).await?;
    record_on_session(engine, p, amr).await?;
    engine
        .audit(
            AuditKind::SteppedUp,
            Some(p.user_id),
            Some(p.session_id),
            Some(caller),
            json!({ "kind": kind.as_str() }),
        )
        .await;
    Ok(())
}

/// The step-up rule: when the user has a second factor, a sensitive action needs one proven on
/// this session within `mfa.step_up_window`. Read from the store, not a cache: a step-up made
/// a moment ago on another instance counts.
pub async fn require_step_up(engine: &Engine, p: &Principal) -> EngineResult<()> {
    if methods_of(engine, p.user_id).await?.is_empty() {
        return Ok(());
    }
    let now = engine.clock.now();
    let recent = engine
        .store
        .session_by_id(p.session_id)
        .await?
        .and_then(|s| s.factor_at)
        .is_some_and(|at| now - at <= engine.settings.mfa.step_up_window);
    if recent {
        Ok(())
    } else {
        Err(EngineError::StepUpRequired)
    }
}

/// Records the methods of a factor proven now on the caller's session (`amr`, `factor_at`) and
/// drops the cached copies, so checks see the new assurance level. Access tokens already issued
/// keep theirs; the next refresh carries the new one.
async fn record_on_session(engine: &Engine, p: &Principal, proven: Amr) -> EngineResult<()> {
    let Some(session) = engine.store.session_by_id(p.session_id).await? else {
        return Err(EngineError::Unauthenticated);
    };
    let amr = session.amr.union(proven);
    if !engine
        .store
        .set_session_factor(session.id, amr, engine.clock.now())
        .await?
    {
        return Err(EngineError::Unauthenticated);
    }
    forget_cached(engine, session.id).await;
    Ok(())
}

async fn forget_cached(engine: &Engine, id: SessionId) {
    engine.sessions.invalidate_shared(id).await;
    engine.sessions.evict_local(id);
}

/// `DELETE /v1/admin/users/{id}/factors`: removes every factor and recovery code of a user
/// who lost them, and ends all their sessions. False for an unknown user.
pub async fn reset(engine: &Engine, user: UserId, caller: &Caller) -> EngineResult<bool> {
    if engine.store.user_by_id(user).await?.is_none() {
        return Ok(false);
    }
    let mut removed = engine.store.delete_factors(user, None).await?;
    for passkey in engine.store.passkeys_of_user(user).await? {
        removed += u64::from(engine.store.delete_passkey(user, passkey.id).await?);
    }
    engine
        .store
        .replace_recovery_codes(user, &[], engine.clock.now())
        .await?;
    let ended = sessions::revoke_all(engine, user, None, Some(caller)).await?;
    engine
        .audit(
            AuditKind::FactorsReset,
            Some(user),
            None,
            Some(caller),
            json!({ "factors": removed, "sessions_ended": ended.len() }),
        )
        .await;
    Ok(true)
}

/// Checks `proof` for `user`, throttled; the kind of factor it proved and the `amr` methods
/// that adds. Every failure is [`EngineError::InvalidGrant`].
pub(crate) async fn verify(
    engine: &Engine,
    user: UserId,
    proof: Proof,
    caller: &Caller,
) -> EngineResult<(FactorKind, Amr)> {
    let key = ThrottleKey::user(user);
    let _counted = engine
        .throttles
        .mfa_per_user
        .reserve(&key, engine.clock.as_ref())
        .await
        .map_err(rate_limited)?;
    let kind = proof.kind();
    let otp = Some(Amr::default().with(AuthnMethod::Otp));
    let proven = match &proof {
        Proof::Totp(code) => {
            let factors = engine.store.factors_of_user(user).await?;
            match confirmed_totp(&factors) {
                Some(factor) if totp_accepts(engine, factor, code).await? => otp,
                _ => None,
            }
        }
        Proof::RecoveryCode(code) => {
            if spend_recovery_code(engine, user, code, caller).await? {
                otp
            } else {
                None
            }
        }
        Proof::Passkey {
            ceremony_id,
            credential,
        } => passkeys::verify_second_factor(engine, user, *ceremony_id, credential).await?,
    };
    let Some(amr) = proven else {
        engine
            .audit(
                AuditKind::SecondFactorFailed,
                Some(user),
                None,
                Some(caller),
                json!({ "kind": kind.as_str() }),
            )
            .await;
        metrics::counter!("tessera_second_factor_total", "result" => "failed").increment(1);
        return Err(EngineError::InvalidGrant);
    };
    engine.throttles.mfa_per_user.reset(&key).await;
    metrics::counter!("tessera_second_factor_total", "result" => "succeeded").increment(1);
    Ok((kind, amr))
}

/// The first code of an enrolment: checked and throttled like any other.
async fn check_totp(
    engine: &Engine,
    user: UserId,
    factor: &Factor,
    code: &str,
    caller: &Caller,
) -> EngineResult<()> {
    let key = ThrottleKey::user(user);
    let _counted = engine
        .throttles
        .mfa_per_user
        .reserve(&key, engine.clock.as_ref())
        .await
        .map_err(rate_limited)?;
    if totp_accepts(engine, factor, code).await? {
        engine.throttles.mfa_per_user.reset(&key).await;
        return Ok(());
    }
    engine
        .audit(
            AuditKind::SecondFactorFailed,
            Some(user),
            None,
            Some(caller),
            json!({ "kind": "totp", "enrolment": true }),
        )
        .await;
    Err(EngineError::InvalidGrant)
}

/// Whether `code` is the factor's code for now (±1 step) and that step was not used before.
async fn totp_accepts(engine: &Engine, factor: &Factor, code: &str) -> EngineResult<bool> {
    let secret = totp::open(engine.tokens.encryption_key.as_ref(), factor)?;
    let now = engine.clock.now().unix_timestamp();
    let Some(step) = totp::matching_step(&secret, code, now) else {
        return Ok(false);
    };
    Ok(engine.store.advance_factor_step(factor.id, step).await?)
}

async fn spend_recovery_code(
    engine: &Engine,
    user: UserId,
    code: &str,
    caller: &Caller,
) -> EngineResult<bool> {
    let Some(normalized) = recovery::normalize(code).map(Zeroizing::new) else {
        return Ok(false);
    };
    let spent = engine
        .store
        .spend_recovery_code(user, &recovery::hash(&normalized), engine.clock.now())
        .await?;
    if spent {
        let left = engine.store.recovery_codes_left(user).await?;
        engine
            .audit(
                AuditKind::RecoveryCodeUsed,
                Some(user),
                None,
                Some(caller),
                json!({ "remaining": left }),
            )
            .await;
    }
    Ok(spent)
}
