//! The e-mail flows over the API: password reset, address verification, change of address.
//! Every request that names an address answers the same whether or not it has an account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authenticated;
use crate::error::ApiResult;
use crate::extract::{Caller, Input};
use crate::openapi::{responses, schemas};
use crate::state::AppState;
use tessera_engine::recovery;
use tessera_engine::verification::{self, Confirmed};

// The bodies carry passwords, link tokens and addresses: `Debug` names only the type.
macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    )*};
}

redacted_debug!(AddressRequest, ResetRequest, TokenRequest, ChangeRequest);

/// The answer to every request that names an address: nothing about the account.
pub fn accepted() -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(json!({ "status": "accepted" })))
}

#[derive(Deserialize)]
pub struct AddressRequest {
    email: String,
}

/// Ask for a password-reset link.
///
/// The same 202 whether or not the address has an account; a link goes to it if it does.
#[utoipa::path(post, path = "/v1/password/reset", operation_id = "request_password_reset", tag = "accounts",
    request_body(content(
        (schemas::AddressRequest = "application/json"),
        (schemas::AddressRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 202, description = "Accepted", body = schemas::Accepted),
        responses::BodyErrors,
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn request_reset(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<AddressRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    recovery::request_password_reset(&state, &body.email, &caller).await?;
    Ok(accepted())
}

#[derive(Deserialize)]
pub struct ResetRequest {
    token: String,
    new_password: String,
}

/// Set a new password with a reset link's token; every session of the account ends.
#[utoipa::path(post, path = "/v1/password/reset/confirm", operation_id = "confirm_password_reset", tag = "accounts",
    request_body(content(
        (schemas::ResetConfirm = "application/json"),
        (schemas::ResetConfirm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 204, description = "Password set"),
        (status = 400, description = "An unusable link, or a password that breaks the policy", body = schemas::Error),
        responses::BodyErrors,
        responses::Unavailable,
    ))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<ResetRequest>,
) -> ApiResult<StatusCode> {
    recovery::reset_password(&state, &body.token, &body.new_password, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct TokenRequest {
    token: String,
}

/// Use a verification or change-of-address link.
#[utoipa::path(post, path = "/v1/email/verify", operation_id = "verify_email", tag = "accounts",
    request_body(content(
        (schemas::LinkToken = "application/json"),
        (schemas::LinkToken = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Verified or changed", body = schemas::Verified),
        (status = 400, description = "An unusable link", body = schemas::Error),
        responses::BodyErrors,
        (status = 409, description = "The new address was taken meanwhile", body = schemas::Error),
        responses::Unavailable,
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<TokenRequest>,
) -> ApiResult<Json<Value>> {
    let (result, email) = match verification::confirm(&state, &body.token, &caller).await? {
        Confirmed::Verified(email) => ("verified", email),
        Confirmed::EmailChanged(email) => ("email_changed", email),
    };
    Ok(Json(
        json!({ "result": result, "email": email.to_string() }),
    ))
}

/// Ask for a new verification link; the older one dies.
#[utoipa::path(post, path = "/v1/email/verify/resend", operation_id = "resend_verification", tag = "accounts",
    request_body(content(
        (schemas::AddressRequest = "application/json"),
        (schemas::AddressRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 202, description = "Accepted, whatever the address", body = schemas::Accepted),
        responses::BodyErrors,
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<AddressRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    verification::resend_verification(&state, &body.email, &caller).await?;
    Ok(accepted())
}

#[derive(Deserialize)]
pub struct ChangeRequest {
    new_email: String,
    current_password: String,
}

/// Change the address: a confirmation link goes to the new one.
///
/// The change happens when the link sent to the new address is used.
#[utoipa::path(post, path = "/v1/email", operation_id = "request_email_change", tag = "accounts",
    request_body(content(
        (schemas::EmailChange = "application/json"),
        (schemas::EmailChange = "application/x-www-form-urlencoded"),
    )),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 202, description = "Accepted", body = schemas::Accepted),
        responses::BodyErrors,
        responses::UserErrors,
        responses::RateLimited,
    ))]
pub async fn request_change(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Input(body): Input<ChangeRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    verification::request_email_change(
        &state,
        p.user_id,
        p.session_id,
        &body.new_email,
        &body.current_password,
        &caller,
    )
    .await?;
    Ok(accepted())
}
