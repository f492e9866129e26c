//! Passkeys over HTTP: the caller's passkeys (`/v1/passkeys…`), the passwordless sign-in
//! (`/v1/session/passkey…`) and the options of a passkey as a second factor (the pending login
//! step, a step-up). Each ceremony is two calls: `…/options` answers a `ceremony_id` and the
//! options for `navigator.credentials.create()`/`.get()`; the finish sends both back with the
//! browser's credential. The rules live in `tessera_engine::factors::passkeys`.

use axum::extract::{Path, State};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_engine::factors::passkeys::{self, PasskeyInfo, Started};
use tessera_engine::factors::{challenge, Proof};
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::auth::Authenticated;
use crate::csrf;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::routes::session::{login_response, session_login_error, Transport};
use crate::routes::views::rfc3339;
use crate::state::AppState;

/// The passkey routes. Like the other second-factor routes, not yet in the OpenAPI document.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/passkeys", get(list).post(finish_registration))
        .route("/v1/passkeys/options", post(start_registration))
        .route("/v1/passkeys/{id}", patch(rename).delete(remove))
        .route("/v1/session/passkey/options", post(start_login))
        .route("/v1/session/passkey", post(finish_login))
        .route("/v1/session/mfa/passkey/options", post(second_step_options))
        .route("/v1/session/step-up/passkey/options", post(step_up_options))
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

pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<Value>> {
    let found = passkeys::list(&state, p.user_id).await?;
    Ok(Json(
        json!({ "passkeys": found.iter().map(view).collect::<Vec<_>>() }),
    ))
}

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

pub async fn rename(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
    Input(body): Input<Rename>,
) -> ApiResult<StatusCode> {
    passkeys::rename(&state, &p, passkey_id(&id)?, &body.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    passkeys::delete(&state, &p, passkey_id(&id)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

pub async fn second_step_options(
    State(state): State<AppState>,
    Input(body): Input<SecondStep>,
) -> ApiResult<Json<Value>> {
    let options = challenge::passkey_options(&state, &body.mfa_token)
        .await
        .map_err(session_login_error)?;
    Ok(started(&options))
}

pub async fn step_up_options(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<Value>> {
    Ok(started(
        &passkeys::start_second_factor(&state, p.user_id).await?,
    ))
}
