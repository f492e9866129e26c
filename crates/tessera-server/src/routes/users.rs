//! `POST /v1/users`: sign-up.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::routes::views::UserView;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use tessera_engine::accounts::{self, SignUp};

#[derive(Debug, Deserialize)]
pub struct CreateUser {
    email: String,
    password: String,
}

/// 201 with the new account, or with `signup.enumeration_safe` 202 for a new and a taken
/// address alike.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<CreateUser>,
) -> ApiResult<Response> {
    if !state.web.config.signup.enabled {
        return Err(ApiError::Forbidden("sign-up is disabled"));
    }
    Ok(
        match accounts::sign_up(&state, &body.email, &body.password, &caller).await? {
            SignUp::Created(user) => {
                (StatusCode::CREATED, Json(UserView::from(&user))).into_response()
            }
            SignUp::Accepted => crate::routes::email::accepted().into_response(),
        },
    )
}
