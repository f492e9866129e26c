//! Passkeys over HTTP: the caller's passkeys (`/v1/passkeys…`), the passwordless sign-in
//! (`/v1/session/passkey…`) and the options of a passkey as a second factor (the pending login
//! step, a step-up). Each ceremony is two calls: `…/options` answers a `ceremony_id` and the
//! options for `navigator.credentials.create()`/`.get()`; the finish sends both back with the
//! browser's credential. The rules live in `tessera_engine::factors::passkeys`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_engine::factors::passkeys::{self, PasskeyInfo, Started};
use tessera_engine::factors::{challenge, Proof};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::auth::Authenticated;
use crate::csrf;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::openapi::passkeys as schemas;
use crate::openapi::responses;
use crate::routes::session::{login_response, session_login_error, Transport};
use crate::routes::views::rfc3339;
use crate::state::AppState;

/// The passkey routes, each with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, finish_registration))
        .routes(routes!(start_registration))
        .routes(routes!(rename, remove))
        .routes(routes!(start_login))
        .routes(routes!(finish_login))
        .routes(routes!(second_step_options))
        .routes(routes!(step_up_options))
}

/// A passkey answering a second-factor ceremony, as `POST /v1/session/mfa` and
/// `POST /v1/session/step-up` take it (`"passkey": {…}`).
#[derive(Debug, Deserialize)]
pub struct PasskeyAssertion {
    ceremony_id: Uuid,
    credential: Box<PublicKeyCredential>,
}

impl PasskeyAssertion {
    pub(crate) fn into_proof(self) -> Proof {
        Proof::Passkey {
            ceremony_id: self.ceremony_id,
            credential: self.credential,
        }
    }
}

fn view(p: &PasskeyInfo) -> Value {
    json!({
        "id": p.id,
        "credential_id": URL_SAFE_NO_PAD.encode(&p.credential_id),
        "name": p.name,
        "created_at": rfc3339(p.created_at),
        "last_used_at": p.last_used_at.map(rfc3339),
    })
}

fn started<T: serde::Serialize>(s: &Started<T>) -> Json<Value> {
    Json(json!({ "ceremony_id": s.ceremony_id, "options": s.options }))
}

fn passkey_id(id: &str) -> ApiResult<Uuid> {
    id.parse().map_err(|_| ApiError::NotFound)
}

#[utoipa::path(get, path = "/v1/passkeys", operation_id = "list_passkeys", tag = "passkeys",
    security(("bearer" = []), ("session_cookie" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The caller's passkeys, oldest first", body = schemas::PasskeyList),
        responses::UserErrors,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<Value>> {
    let found = passkeys::list(&state, p.user_id).await?;
    Ok(Json(
        json!({ "passkeys": found.iter().map(view).collect::<Vec<_>>() }),
    ))
}

#[utoipa::path(post, path = "/v1/passkeys/options", operation_id = "start_passkey_registration", tag = "passkeys",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "Options for `navigator.credentials.create()`", body = schemas::CeremonyStarted),
        (status = 403, description = "`step_up_required`: the account has a second factor and this session has not proven one recently; or a CSRF refusal", body = crate::openapi::schemas::Error),
        (status = 409, description = "Passkeys are off (no relying party configured), or the user has the most passkeys allowed", body = crate::openapi::schemas::Error),
        responses::UserErrors,
    ))]
pub async fn start_registration(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<Value>> {
    Ok(started(&passkeys::start_registration(&state, &p).await?))
}

#[derive(Debug, Deserialize)]
pub struct FinishRegistration {
    ceremony_id: Uuid,
    #[serde(default = "default_name")]
    name: String,
    credential: Box<RegisterPublicKeyCredential>,
}

fn default_name() -> String {
    "Passkey".into()
}

#[utoipa::path(post, path = "/v1/passkeys", operation_id = "register_passkey", tag = "passkeys",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    request_body = schemas::RegisterPasskey,
    responses(
        (status = 201, description = "Registered", body = schemas::Passkey),
        responses::BodyErrors,
        (status = 401, description = "No valid credential; or `invalid_grant`: an unknown, spent, expired or foreign ceremony, or a credential that does not verify (origin, rp id, challenge)", body = crate::openapi::schemas::Error),
        (status = 409, description = "The credential is registered already, or passkeys are off", body = crate::openapi::schemas::Error),
        responses::UserErrors,
    ))]
pub async fn finish_registration(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Input(body): Input<FinishRegistration>,
) -> ApiResult<Response> {
    let info = passkeys::finish_registration(
        &state,
        &p,
        body.ceremony_id,
        &body.name,
        &body.credential,
        &caller,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&info))).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Rename {
    name: String,
}

#[utoipa::path(patch, path = "/v1/passkeys/{id}", operation_id = "rename_passkey", tag = "passkeys",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    request_body = schemas::RenamePasskey,
    responses(
        (status = 204, description = "Renamed"),
        responses::BodyErrors,
        responses::NotFound,
        responses::UserErrors,
    ))]
pub async fn rename(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
    Input(body): Input<Rename>,
) -> ApiResult<StatusCode> {
    passkeys::rename(&state, &p, passkey_id(&id)?, &body.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/passkeys/{id}", operation_id = "delete_passkey", tag = "passkeys",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`step_up_required`, or a CSRF refusal", body = crate::openapi::schemas::Error),
        responses::NotFound,
        responses::UserErrors,
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    passkeys::delete(&state, &p, passkey_id(&id)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/session/passkey/options", operation_id = "start_passkey_login", tag = "passkeys",
    responses(
        (status = 200, description = "Options for `navigator.credentials.get()` (discoverable credential, `mediation: conditional`)", body = schemas::CeremonyStarted),
        (status = 409, description = "Passkeys are off", body = crate::openapi::schemas::Error),
        responses::Unavailable,
    ))]
pub async fn start_login(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(started(&passkeys::start_login(&state).await?))
}

#[derive(Debug, Deserialize)]
pub struct FinishLogin {
    ceremony_id: Uuid,
    credential: Box<PublicKeyCredential>,
    #[serde(default)]
    transport: Transport,
}

/// `POST /v1/session/passkey`: a sign-in with a passkey alone. Answers what a password login
/// answers.
#[utoipa::path(post, path = "/v1/session/passkey", operation_id = "passkey_login", tag = "passkeys",
    request_body = schemas::PasskeyLogin,
    responses(
        (status = 200, description = "Signed in, as `POST /v1/session` answers", body = crate::openapi::schemas::LoginResponse,
            headers(("Set-Cookie" = String, description = "The session cookie (transport `cookie`)"))),
        responses::BodyErrors,
        (status = 401, description = "`invalid_grant`: unknown, spent or expired ceremony, unknown credential or user, wrong origin or rp id, bad signature, locked account", body = crate::openapi::schemas::Error),
        (status = 403, description = "Cookie transport from a foreign origin", body = crate::openapi::schemas::Error),
        (status = 409, description = "Passkeys are off", body = crate::openapi::schemas::Error),
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn finish_login(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Input(body): Input<FinishLogin>,
) -> ApiResult<Response> {
    if body.transport == Transport::Cookie {
        csrf::require_same_origin(&headers, &state.web.public_origin)?;
    }
    let login = passkeys::finish_login(
        &state,
        body.ceremony_id,
        &body.credential,
        body.transport.session_kind(),
        &caller,
    )
    .await
    .map_err(session_login_error)?;
    login_response(&state, &caller, &headers, body.transport, &login).await
}

#[derive(Debug, Deserialize)]
pub struct SecondStep {
    mfa_token: String,
}

#[utoipa::path(post, path = "/v1/session/mfa/passkey/options", operation_id = "start_passkey_second_step", tag = "passkeys",
    request_body = schemas::PendingStep,
    responses(
        (status = 200, description = "Options for `navigator.credentials.get()`; answer with `POST /v1/session/mfa` and `passkey`", body = schemas::CeremonyStarted),
        responses::BodyErrors,
        (status = 401, description = "`invalid_grant`: unknown, spent or expired `mfa_token`", body = crate::openapi::schemas::Error),
        (status = 409, description = "The user has no passkey, or passkeys are off", body = crate::openapi::schemas::Error),
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn second_step_options(
    State(state): State<AppState>,
    Input(body): Input<SecondStep>,
) -> ApiResult<Json<Value>> {
    let options = challenge::passkey_options(&state, &body.mfa_token)
        .await
        .map_err(session_login_error)?;
    Ok(started(&options))
}

#[utoipa::path(post, path = "/v1/session/step-up/passkey/options", operation_id = "start_passkey_step_up", tag = "passkeys",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "Options for `navigator.credentials.get()`; answer with `POST /v1/session/step-up` and `passkey`", body = schemas::CeremonyStarted),
        (status = 409, description = "The user has no passkey, or passkeys are off", body = crate::openapi::schemas::Error),
        responses::UserErrors,
    ))]
pub async fn step_up_options(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<Value>> {
    Ok(started(
        &passkeys::start_second_factor(&state, p.user_id).await?,
    ))
}
