//! Second factors: the user's factors (`/v1/factors…`), the second step of a session login
//! (`POST /v1/session/mfa`) and the step-up (`POST /v1/session/step-up`). The rules live in
//! `tessera_engine::factors`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tessera_engine::factors::{self, challenge, Proof};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::csrf;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::openapi::factors as schemas;
use crate::openapi::responses;
use crate::routes::admin::Admin;
use crate::routes::passkeys::PasskeyAssertion;
use crate::routes::qr;
use crate::routes::session::{login_response, session_login_error, Transport};
use crate::routes::views::rfc3339;
use crate::state::AppState;

/// The second-factor routes, each with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(complete_login))
        .routes(routes!(step_up))
        .routes(routes!(list))
        .routes(routes!(start_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(regenerate_recovery_codes))
        .routes(routes!(admin_reset))
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

/// The caller's second factors.
#[utoipa::path(get, path = "/v1/factors", operation_id = "list_factors", tag = "factors",
    security(("bearer" = []), ("session_cookie" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "What is enabled", body = schemas::FactorList),
        responses::Unauthorized,
        responses::Unavailable,
    ))]
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

/// Start TOTP enrolment: a new secret, not active until confirmed. Starting again replaces an
/// unconfirmed secret; with TOTP already on → 409.
#[utoipa::path(post, path = "/v1/factors/totp", operation_id = "start_totp", tag = "factors",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 201, description = "The secret, its `otpauth://` URI and QR code", body = schemas::TotpEnrolment),
        responses::Conflict,
        responses::UserErrors,
    ))]
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

/// Confirm TOTP with a first code: from now on a login needs a second factor. Answers the
/// recovery codes, shown this once.
#[utoipa::path(post, path = "/v1/factors/totp/confirm", operation_id = "confirm_totp", tag = "factors",
    request_body = schemas::ConfirmTotp,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "TOTP is on", body = schemas::RecoveryCodes),
        responses::BodyErrors,
        responses::NotFound,
        responses::Conflict,
        responses::RateLimited,
        responses::UserErrors,
    ))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Input(body): Input<ConfirmTotp>,
) -> ApiResult<Json<serde_json::Value>> {
    let codes = factors::confirm_totp(&state, &p, &body.code, &caller).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// Turn TOTP off (its recovery codes go too). Needs a recent step-up.
#[utoipa::path(delete, path = "/v1/factors/totp", operation_id = "remove_totp", tag = "factors",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "TOTP is off"),
        responses::NotFound,
        (status = 403, description = "`step_up_required`: no factor used within `mfa.step_up_window` (`POST /v1/session/step-up`), or a cookie credential without its CSRF token", body = crate::openapi::schemas::Error),
        responses::Unauthorized,
        responses::Unavailable,
    ))]
pub async fn remove_totp(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
) -> ApiResult<StatusCode> {
    factors::remove_totp(&state, &p, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new set of recovery codes; the old set stops working. Needs TOTP on and a recent step-up.
#[utoipa::path(post, path = "/v1/factors/recovery-codes", operation_id = "regenerate_recovery_codes", tag = "factors",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once", body = schemas::RecoveryCodes),
        responses::Conflict,
        (status = 403, description = "`step_up_required`: no factor used within `mfa.step_up_window` (`POST /v1/session/step-up`), or a cookie credential without its CSRF token", body = crate::openapi::schemas::Error),
        responses::Unauthorized,
        responses::Unavailable,
    ))]
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
#[utoipa::path(post, path = "/v1/session/mfa", operation_id = "complete_login", tag = "factors",
    request_body(content(
        (schemas::CompleteLogin = "application/json"),
        (schemas::CompleteLogin = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in: as `POST /v1/session`", body = crate::openapi::schemas::LoginResponse,
            headers(("Set-Cookie" = String, description = "The session cookie (transport `cookie`)"))),
        responses::BodyErrors,
        (status = 401, description = "`invalid_grant`: a wrong, replayed or expired code, or a spent, expired or unknown `mfa_token`", body = crate::openapi::schemas::Error),
        (status = 403, description = "Cookie transport from a foreign origin", body = crate::openapi::schemas::Error),
        responses::RateLimited,
        responses::Unavailable,
    ))]
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
#[utoipa::path(post, path = "/v1/session/step-up", operation_id = "step_up", tag = "factors",
    request_body = schemas::Proof,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "The session used a factor now: sensitive actions are open for `mfa.step_up_window`"),
        responses::BodyErrors,
        (status = 409, description = "`conflict`: the account has no second factor to prove", body = crate::openapi::schemas::Error),
        responses::RateLimited,
        responses::UserErrors,
    ))]
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
#[utoipa::path(delete, path = "/v1/admin/users/{id}/factors", operation_id = "admin_reset_factors", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Every factor and recovery code is gone; every session of the user ended"),
        responses::NotFound,
        responses::AdminErrors,
    ))]
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
