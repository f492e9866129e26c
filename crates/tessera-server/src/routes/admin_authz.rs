//! The admin API for what a user may do: roles and custom claims. Every change reaches the
//! user's cookie and `tss_` checks on every instance at once, and their access tokens at the
//! next refresh (see `tessera_engine::authz`).

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::{CustomClaims, Roles};

use crate::error::ApiResult;
use crate::extract::{Caller, Input};
use crate::openapi::{responses, schemas};
use crate::routes::admin::{load_user, Admin};
use crate::state::AppState;
use tessera_engine::authz::{self, RoleChange};

#[derive(Debug, Deserialize)]
pub struct RolesBody {
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ClaimsBody {
    claims: Value,
}

fn roles_json(roles: &Roles) -> Json<Value> {
    Json(json!({ "roles": roles }))
}

fn claims_json(claims: &CustomClaims) -> Json<Value> {
    Json(json!({ "claims": claims }))
}

/// A user's roles (sorted).
#[utoipa::path(get, path = "/v1/admin/users/{id}/roles", operation_id = "admin_get_roles", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The roles", body = schemas::Roles),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn get_roles(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(roles_json(&load_user(&state, &id).await?.roles))
}

async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: RoleChange,
) -> ApiResult<Json<Value>> {
    let user = load_user(state, id).await?;
    let roles = authz::change_roles(state, user.id, &change, Some(caller)).await?;
    Ok(roles_json(&roles))
}

/// Set exactly these roles.
#[utoipa::path(put, path = "/v1/admin/users/{id}/roles", operation_id = "admin_set_roles", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    request_body(content((schemas::Roles = "application/json"))),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The roles now held", body = schemas::Roles),
        responses::BodyErrors,
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn set_roles(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Input(body): Input<RolesBody>,
) -> ApiResult<Json<Value>> {
    change(&state, &caller, &id, RoleChange::Set(body.roles)).await
}

/// Add these roles to the ones held.
#[utoipa::path(post, path = "/v1/admin/users/{id}/roles", operation_id = "admin_add_roles", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    request_body(content((schemas::Roles = "application/json"))),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The roles now held", body = schemas::Roles),
        responses::BodyErrors,
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn add_roles(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Input(body): Input<RolesBody>,
) -> ApiResult<Json<Value>> {
    change(&state, &caller, &id, RoleChange::Add(body.roles)).await
}

/// Take one role away (not held: unchanged).
#[utoipa::path(delete, path = "/v1/admin/users/{id}/roles/{role}", operation_id = "admin_remove_role", tag = "admin",
    params(("id" = String, Path, description = "A user id"), ("role" = schemas::RoleName, Path, description = "A role name")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The roles now held", body = schemas::Roles),
        (status = 400, description = "A malformed role name", body = schemas::Error),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn remove_role(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path((id, role)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    change(&state, &caller, &id, RoleChange::Remove(vec![role])).await
}

/// A user's custom claims.
#[utoipa::path(get, path = "/v1/admin/users/{id}/claims", operation_id = "admin_get_claims", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The claims", body = schemas::Claims),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn get_claims(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(claims_json(&load_user(&state, &id).await?.claims))
}

/// Replace a user's custom claims (`{}` clears them).
#[utoipa::path(put, path = "/v1/admin/users/{id}/claims", operation_id = "admin_set_claims", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    request_body(content((schemas::Claims = "application/json"))),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The claims now held", body = schemas::Claims),
        responses::BodyErrors,
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn set_claims(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Input(body): Input<ClaimsBody>,
) -> ApiResult<Json<Value>> {
    let user = load_user(&state, &id).await?;
    let claims = authz::set_claims(&state, user.id, body.claims, Some(&caller)).await?;
    Ok(claims_json(&claims))
}
