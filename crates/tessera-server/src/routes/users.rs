//! `POST /v1/users`: sign-up.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::openapi::{responses, schemas};
use crate::routes::views::UserView;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use tessera_engine::accounts::{self, SignUp};

#[derive(Debug, Deserialize)]
pub struct CreateUser {
    email: String,
    password: String,
}

/// Sign up.
///
/// 201 with the new account, or with `signup.enumeration_safe` 202 for a new and a taken
/// address alike.
#[utoipa::path(post, path = "/v1/users", operation_id = "create_user", tag = "accounts",
    request_body(content(
        (schemas::SignUp = "application/json"),
        (schemas::SignUp = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "The new account", body = schemas::User, links(
            ("login" = (operation_id = "login", request_body = json!({
                "email": "$request.body#/email", "password": "$request.body#/password",
                "transport": "body"}))),
            ("admin_get_user" = (operation_id = "admin_get_user",
                parameters(("id" = "$response.body#/id")))),
        )),
        (status = 202, description = "`signup.enumeration_safe`: accepted", body = schemas::Accepted),
        responses::BodyErrors,
        (status = 403, description = "`signup.enabled = false`", body = schemas::Error),
        responses::Conflict,
        responses::RateLimited,
        responses::Unavailable,
    ))]
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
