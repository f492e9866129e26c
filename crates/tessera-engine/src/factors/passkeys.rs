//! Passkeys (WebAuthn, through `webauthn-rs`): registering, listing, renaming and deleting
//! them, signing in with one alone (a discoverable credential, conditional UI), and proving one
//! as a second factor (the pending step of a password login, a step-up).
//!
//! Every ceremony's state is serialised into the store ([`tessera_core::Ceremony`]): single
//! use (taken, never read), expiring after `webauthn.ceremony_ttl`, so a ceremony started on
//! one instance finishes on any other. The origin and relying-party id of every response are
//! checked by `webauthn-rs` against `webauthn.origins` and `webauthn.rp_id`.

use serde_json::json;
use tessera_core::passkey::{clean_name, Ceremony, CeremonyKind, PasskeyRecord};
use tessera_core::{Amr, AuthnMethod, FactorKind, SessionKind, UserId};
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey,
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::{record_on_session, require_step_up};
use crate::error::{EngineError, EngineResult};
use crate::sessions::{self, Authn, Login};
use crate::{AuditKind, Caller, Engine, Principal, WebauthnSettings};

/// Most passkeys one user may register: bounds the store and every sign-in's work.
pub const MAX_PER_USER: usize = 20;

/// The relying party `settings` describe. The configuration checked the rp id against every
/// origin already; `webauthn-rs` checks again.
pub fn relying_party(settings: &WebauthnSettings) -> Result<Webauthn, String> {
    let origins = settings
        .origins
        .iter()
        .map(|o| Url::parse(o).map_err(|e| format!("origin {o:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let first = origins.first().ok_or("no origin")?;
    let invalid = |e| format!("rp_id {:?} with origin {first}: {e:?}", settings.rp_id);
    let mut builder = WebauthnBuilder::new(&settings.rp_id, first).map_err(invalid)?;
    for origin in &origins[1..] {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .rp_name(&settings.rp_name)
        .timeout(std::time::Duration::from_secs(
            settings.ceremony_ttl.whole_seconds().max(1) as u64,
        ))
        .build()
        .map_err(|e| format!("{e:?}"))
}

/// A passkey as the account page and `GET /v1/passkeys` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: Uuid,
    /// The WebAuthn credential id (what `allowCredentials` names).
    pub credential_id: Vec<u8>,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(r: &PasskeyRecord) -> Self {
        Self {
            id: r.id,
            credential_id: r.credential_id.clone(),
            name: r.name.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A started ceremony: its id (sent back with the finish) and the options for
/// `navigator.credentials.create()` / `.get()`.
#[derive(Debug)]
pub struct Started<T> {
    pub ceremony_id: Uuid,
    pub options: T,
}

fn relying(engine: &Engine) -> EngineResult<&Webauthn> {
    engine.webauthn.as_deref().ok_or(EngineError::Conflict(
        "passkeys are off: configure webauthn.rp_id and webauthn.origins",
    ))
}

fn internal(what: &'static str) -> impl FnOnce(serde_json::Error) -> EngineError {
    move |e| EngineError::Internal(format!("{what}: {e}").into())
}

async fn begin<S: serde::Serialize>(
    engine: &Engine,
    kind: CeremonyKind,
    user: Option<UserId>,
    state: &S,
) -> EngineResult<Uuid> {
    let now = engine.clock.now();
    let ttl = engine
        .settings
        .mfa
        .webauthn
        .as_ref()
        .map_or(time::Duration::minutes(5), |w| w.ceremony_ttl);
    let ceremony = Ceremony {
        id: Uuid::new_v4(),
        kind,
        user_id: user,
        state: serde_json::to_vec(state).map_err(internal("ceremony state"))?,
        created_at: now,
        expires_at: now + ttl,
    };
    engine.store.insert_ceremony(&ceremony).await?;
    Ok(ceremony.id)
}

/// Takes ceremony `id` (so it cannot be finished twice) and reads its state; an unknown, spent,
/// expired or foreign ceremony is [`EngineError::InvalidGrant`].
async fn take<S: serde::de::DeserializeOwned>(
    engine: &Engine,
    id: Uuid,
    kind: CeremonyKind,
    user: Option<UserId>,
) -> EngineResult<S> {
    let Some(ceremony) = engine.store.take_ceremony(id).await? else {
        return Err(EngineError::InvalidGrant);
    };
    if ceremony.kind != kind
        || ceremony.user_id != user
        || engine.clock.now() >= ceremony.expires_at
    {
        return Err(EngineError::InvalidGrant);
    }
    serde_json::from_slice(&ceremony.state).map_err(internal("ceremony state"))
}

fn decode(record: &PasskeyRecord) -> EngineResult<Passkey> {
    serde_json::from_slice(&record.credential).map_err(internal("stored passkey"))
}

/// What a successful assertion adds to a session's `amr`: `swk` for a synced (backup-eligible)
/// passkey, `hwk` for a device-bound one, and `user` when the authenticator verified the user.
fn methods_of_assertion(result: &AuthenticationResult) -> Amr {
    let key = if result.backup_eligible() {
        AuthnMethod::Swk
    } else {
        AuthnMethod::Hwk
    };
    let amr = Amr::default().with(key);
    if result.user_verified() {
        amr.with(AuthnMethod::User)
    } else {
        amr
    }
}

pub async fn list(engine: &Engine, user: UserId) -> EngineResult<Vec<PasskeyInfo>> {
    let found = engine.store.passkeys_of_user(user).await?;
    Ok(found.iter().map(PasskeyInfo::from).collect())
}

/// Starts registering a passkey for the caller. Adding a factor is sensitive: a recent step-up
/// is needed when the account has one already.
pub async fn start_registration(
    engine: &Engine,
    p: &Principal,
) -> EngineResult<Started<CreationChallengeResponse>> {
    let rp = relying(engine)?;
    require_step_up(engine, p).await?;
    let user = engine
        .store
        .user_by_id(p.user_id)
        .await?
        .ok_or(EngineError::Unauthenticated)?;
    let existing = engine.store.passkeys_of_user(user.id).await?;
    if existing.len() >= MAX_PER_USER {
        return Err(EngineError::Conflict("too many passkeys; delete one first"));
    }
    let exclude = existing
        .iter()
        .map(|r| decode(r).map(|k| k.cred_id().clone()))
        .collect::<EngineResult<Vec<_>>>()?;
    let email = user.email.as_str();
    let (mut options, state) = rp
        .start_passkey_registration(user.id.0, email, email, Some(exclude))
        .map_err(|e| EngineError::Internal(format!("WebAuthn registration: {e:?}").into()))?;
    // A discoverable credential when the authenticator can store one: it is what signs in
    // without a password. Not required: security keys without storage still make a factor.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    let ceremony_id = begin(engine, CeremonyKind::Register, Some(user.id), &state).await?;
    Ok(Started {
        ceremony_id,
        options,
    })
}

/// Finishes a registration with the browser's response and stores the passkey under `name`.
pub async fn finish_registration(
    engine: &Engine,
    p: &Principal,
    ceremony_id: Uuid,
    name: &str,
    credential: &RegisterPublicKeyCredential,
    caller: &Caller,
) -> EngineResult<PasskeyInfo> {
    let rp = relying(engine)?;
    let name = clean_name(name)?;
    let state: PasskeyRegistration =
        take(engine, ceremony_id, CeremonyKind::Register, Some(p.user_id)).await?;
    let passkey = rp
        .finish_passkey_registration(credential, &state)
        .map_err(|_| EngineError::InvalidGrant)?;
    let now = engine.clock.now();
    let record = PasskeyRecord {
        id: Uuid::new_v4(),
        user_id: p.user_id,
        credential_id: passkey.cred_id().to_vec(),
        name,
        credential: serde_json::to_vec(&passkey).map_err(internal("passkey"))?,
        created_at: now,
        last_used_at: None,
    };
    engine.store.insert_passkey(&record).await?;
    // The new key was just used with user verification on this session.
    record_on_session(
        engine,
        p,
        Amr::default()
            .with(AuthnMethod::Hwk)
            .with(AuthnMethod::User),
    )
    .await?;
    engine
        .audit(
            AuditKind::FactorEnabled,
            Some(p.user_id),
            Some(p.session_id),
            Some(caller),
            json!({ "kind": "passkey", "passkey_id": record.id }),
        )
        .await;
    Ok(PasskeyInfo::from(&record))
}

pub async fn rename(engine: &Engine, p: &Principal, id: Uuid, name: &str) -> EngineResult<()> {
    let name = clean_name(name)?;
    if engine.store.rename_passkey(p.user_id, id, &name).await? {
        Ok(())
    } else {
        Err(EngineError::NotFound)
    }
}

/// Deletes one of the caller's passkeys: a sensitive action, like removing TOTP.
pub async fn delete(engine: &Engine, p: &Principal, id: Uuid, caller: &Caller) -> EngineResult<()> {
    require_step_up(engine, p).await?;
    if !engine.store.delete_passkey(p.user_id, id).await? {
        return Err(EngineError::NotFound);
    }
    engine
        .audit(
            AuditKind::FactorRemoved,
            Some(p.user_id),
            Some(p.session_id),
            Some(caller),
            json!({ "kind": "passkey", "passkey_id": id }),
        )
        .await;
    Ok(())
}

/// Starts a passwordless sign-in: options without a user, for a discoverable credential.
pub async fn start_login(engine: &Engine) -> EngineResult<Started<RequestChallengeResponse>> {
    let rp = relying(engine)?;
    let (options, state) = rp
        .start_discoverable_authentication()
        .map_err(|e| EngineError::Internal(format!("WebAuthn sign-in: {e:?}").into()))?;
    let ceremony_id = begin(engine, CeremonyKind::Login, None, &state).await?;
    Ok(Started {
        ceremony_id,
        options,
    })
}

/// Finishes a passwordless sign-in: the credential names its user (the user handle), whose
/// passkey must have signed this ceremony's challenge. Opens a session whose `amr` is the key
/// (and `user` when verified). Every failure is [`EngineError::InvalidGrant`].
pub async fn finish_login(
    engine: &Engine,
    ceremony_id: Uuid,
    credential: &PublicKeyCredential,
    kind: SessionKind,
    caller: &Caller,
) -> EngineResult<Login> {
    let rp = relying(engine)?;
    let state: DiscoverableAuthentication =
        take(engine, ceremony_id, CeremonyKind::Login, None).await?;
    let (user_id, cred_id) = rp
        .identify_discoverable_authentication(credential)
        .map_err(|_| EngineError::InvalidGrant)?;
    let user = match engine.store.user_by_id(UserId(user_id)).await? {
        Some(user) if !user.locked => user,
        _ => return Err(EngineError::InvalidGrant),
    };
    let records = engine.store.passkeys_of_user(user.id).await?;
    let Some(record) = records.iter().find(|r| r.credential_id == cred_id) else {
        return Err(EngineError::InvalidGrant);
    };
    let mut passkey = decode(record)?;
    let result = rp
        .finish_discoverable_authentication(credential, state, &[DiscoverableKey::from(&passkey)])
        .map_err(|_| EngineError::InvalidGrant)?;
    record_use(engine, record, &mut passkey, &result).await?;
    metrics::counter!("tessera_passkey_logins_total").increment(1);
    let authn = Authn {
        amr: methods_of_assertion(&result),
        factor_at: Some(engine.clock.now()),
    };
    sessions::open_login(engine, user, kind, None, authn, caller).await
}

/// Starts proving one of `user`'s passkeys as a second factor.
pub async fn start_second_factor(
    engine: &Engine,
    user: UserId,
) -> EngineResult<Started<RequestChallengeResponse>> {
    let rp = relying(engine)?;
    let keys = engine
        .store
        .passkeys_of_user(user)
        .await?
        .iter()
        .map(decode)
        .collect::<EngineResult<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(EngineError::Conflict("no passkey is registered"));
    }
    let (options, state) = rp
        .start_passkey_authentication(&keys)
        .map_err(|e| EngineError::Internal(format!("WebAuthn assertion: {e:?}").into()))?;
    let ceremony_id = begin(engine, CeremonyKind::SecondFactor, Some(user), &state).await?;
    Ok(Started {
        ceremony_id,
        options,
    })
}

/// Checks a second-factor assertion of `user`; the methods it proved. Only `user`'s own
/// ceremony and passkeys count. Every failure is `Ok(None)`; the caller throttles and audits.
pub(crate) async fn verify_second_factor(
    engine: &Engine,
    user: UserId,
    ceremony_id: Uuid,
    credential: &PublicKeyCredential,
) -> EngineResult<Option<Amr>> {
    let rp = relying(engine)?;
    let state: PasskeyAuthentication =
        match take(engine, ceremony_id, CeremonyKind::SecondFactor, Some(user)).await {
            Ok(state) => state,
            Err(EngineError::InvalidGrant) => return Ok(None),
            Err(other) => return Err(other),
        };
    let Ok(result) = rp.finish_passkey_authentication(credential, &state) else {
        return Ok(None);
    };
    let records = engine.store.passkeys_of_user(user).await?;
    let Some(record) = records
        .iter()
        .find(|r| r.credential_id == result.cred_id().as_slice())
    else {
        return Ok(None);
    };
    let mut passkey = decode(record)?;
    record_use(engine, record, &mut passkey, &result).await?;
    Ok(Some(methods_of_assertion(&result)))
}

/// Stores the counter an assertion moved forward and when the passkey was used.
async fn record_use(
    engine: &Engine,
    record: &PasskeyRecord,
    passkey: &mut Passkey,
    result: &AuthenticationResult,
) -> EngineResult<()> {
    passkey.update_credential(result);
    let bytes = serde_json::to_vec(&*passkey).map_err(internal("passkey"))?;
    engine
        .store
        .record_passkey_use(record.id, &bytes, engine.clock.now())
        .await?;
    Ok(())
}

/// Whether `user` has a passkey (then a password login needs a second step).
pub(crate) async fn any(engine: &Engine, user: UserId) -> EngineResult<bool> {
    Ok(!engine.store.passkeys_of_user(user).await?.is_empty())
}

/// The kind a passkey proof records.
pub const KIND: FactorKind = FactorKind::Passkey;
