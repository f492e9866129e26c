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

/// `POST /v1/password/reset` `{"email"}` → 202.
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

/// `POST /v1/password/reset/confirm` `{"token", "new_password"}` → 204; every session ends.
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

/// `POST /v1/email/verify` `{"token"}` → 200 `{"result", "email"}`: a verification link or a
/// change-of-address link.
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

/// `POST /v1/email/verify/resend` `{"email"}` → 202.
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

/// `POST /v1/email` `{"new_email", "current_password"}` (authenticated) → 202; the change
/// happens when the link sent to the new address is used.
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
