//! `POST /v1/users`: sign-up.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::routes::views::UserView;
use crate::state::AppState;
use tessera_engine::accounts;

#[derive(Debug, Deserialize)]
pub struct CreateUser {
    email: String,
    password: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    if !state.web.config.signup.enabled {
        return Err(ApiError::Forbidden("sign-up is disabled"));
    }
    let user = accounts::create_user(&state, &body.email, &body.password, Some(&caller)).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}
