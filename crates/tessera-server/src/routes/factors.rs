//! Second factors: the user's factors (`/v1/factors…`), the second step of a session login
//! (`POST /v1/session/mfa`) and the step-up (`POST /v1/session/step-up`). The rules live in
//! `tessera_engine::factors`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tessera_engine::factors::{self, challenge, Proof};

use crate::auth::Authenticated;
use crate::csrf;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::routes::admin::Admin;
use crate::routes::passkeys::PasskeyAssertion;
use crate::routes::qr;
use crate::routes::session::{login_response, session_login_error, Transport};
use crate::routes::views::rfc3339;
use crate::state::AppState;

/// The second-factor routes. Not yet in the OpenAPI document (their `#[utoipa::path]`s are the
/// next step); merged into the API router beside the documented ones.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/session/mfa", post(complete_login))
        .route("/v1/session/step-up", post(step_up))
        .route("/v1/factors", get(list))
        .route("/v1/factors/totp", post(start_totp).delete(remove_totp))
        .route("/v1/factors/totp/confirm", post(confirm_totp))
        .route(
            "/v1/factors/recovery-codes",
            post(regenerate_recovery_codes),
        )
        .route("/v1/admin/users/{id}/factors", delete(admin_reset))
}

/// A second factor as a request carries it: exactly one of a TOTP `code` (`otp` is accepted as
/// its other name, as in the token grant), a `recovery_code` and a `passkey` assertion.
#[derive(Debug, Deserialize)]
pub struct ProofFields {
    #[serde(alias = "otp")]
    code: Option<String>,
    recovery_code: Option<String>,
    passkey: Option<PasskeyAssertion>,
}

impl ProofFields {
    pub(crate) fn proof(self) -> ApiResult<Proof> {
        match (self.code, self.recovery_code, self.passkey) {
            (Some(code), None, None) => Ok(Proof::totp(&code)),
            (None, Some(code), None) => Ok(Proof::recovery_code(&code)),
            (None, None, Some(passkey)) => Ok(passkey.into_proof()),
            _ => Err(ApiError::InvalidRequest(
                "send exactly one of `code` (TOTP), `recovery_code` and `passkey`".into(),
            )),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<serde_json::Value>> {
    let summary = factors::summary(&state, p.user_id).await?;
    let totp = summary.totp.as_ref().map(|t| {
        json!({
            "enabled": t.confirmed_at.is_some(),
            "created_at": rfc3339(t.created_at),
            "confirmed_at": t.confirmed_at.map(rfc3339),
        })
    });
    Ok(Json(json!({
        "mfa_enabled": summary.enabled(),
        "totp": totp,
        "recovery_codes": { "remaining": summary.recovery_codes_left },
    })))
}

pub async fn start_totp(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
) -> ApiResult<Response> {
    let enrolment = factors::start_totp(&state, &p, &caller).await?;
    let qr_svg = qr::svg(&enrolment.otpauth_uri)
        .ok_or_else(|| ApiError::Internal("the otpauth URI does not fit a QR code".into()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "secret": enrolment.secret.as_str(),
            "otpauth_uri": enrolment.otpauth_uri.as_str(),
            "qr_svg": qr_svg,
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ConfirmTotp {
    code: String,
}

pub async fn confirm_totp(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Input(body): Input<ConfirmTotp>,
) -> ApiResult<Json<serde_json::Value>> {
    let codes = factors::confirm_totp(&state, &p, &body.code, &caller).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

pub async fn remove_totp(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
) -> ApiResult<StatusCode> {
    factors::remove_totp(&state, &p, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<serde_json::Value>> {
    let codes = factors::regenerate_recovery_codes(&state, &p, &caller).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

#[derive(Debug, Deserialize)]
pub struct CompleteLogin {
    mfa_token: String,
    #[serde(flatten)]
    proof: ProofFields,
    #[serde(default)]
    transport: Transport,
}

/// `POST /v1/session/mfa`: the second step of `POST /v1/session`. Answers exactly what a login
/// without a second factor answers, with a brand-new session.
pub async fn complete_login(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Input(body): Input<CompleteLogin>,
) -> ApiResult<Response> {
    if body.transport == Transport::Cookie {
        csrf::require_same_origin(&headers, &state.web.public_origin)?;
    }
    let login = challenge::complete_session_login(
        &state,
        &body.mfa_token,
        body.proof.proof()?,
        body.transport.session_kind(),
        &caller,
    )
    .await
    .map_err(session_login_error)?;
    login_response(&state, &caller, &headers, body.transport, &login).await
}

/// `POST /v1/session/step-up`: proves a factor again on the current session.
pub async fn step_up(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Input(body): Input<ProofFields>,
) -> ApiResult<StatusCode> {
    factors::step_up(&state, &p, body.proof()?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/admin/users/{id}/factors`: for a user who lost their factors. Every factor and
/// recovery code goes, and every session of the user ends.
pub async fn admin_reset(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = id.parse().map_err(|_| ApiError::NotFound)?;
    if !factors::reset(&state, id, &caller).await? {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
