//! The admin API: `Authorization: Bearer <admin.api_key>`.
//!
//! No key or a wrong key → 401; a user's own credential (session or access token) → 403, so a
//! signed-in user learns that the endpoint exists but not that their token "almost" worked.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tessera_core::model::AuditQuery;
use tessera_core::{CustomClaims, Email, Roles, User, UserId};

use crate::auth::Credential;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input, QueryParams};
use crate::openapi::{responses, schemas};
use crate::routes::views::{rfc3339, SessionView};
use crate::state::AppState;
use tessera_engine::{accounts, admin, clients, sessions};

/// Proof that the request carries the admin key.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        let user_credential = matches!(
            parts.extensions.get::<Credential>(),
            Some(Credential::Valid(_))
        );
        if let Some(presented) = &presented {
            let caller = Caller::from_request_parts(parts, state).await?;
            if admin::is_admin_key(state, presented, user_credential, &caller).await? {
                return Ok(Admin);
            }
        }
        if user_credential {
            Err(ApiError::Forbidden("admin credentials required"))
        } else {
            Err(ApiError::Unauthorized {
                bearer: presented.is_some(),
            })
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AdminUserView {
    id: String,
    email: String,
    locked: bool,
    email_verified: bool,
    email_verified_at: Option<String>,
    roles: Roles,
    claims: CustomClaims,
    created_at: String,
    updated_at: String,
}

impl From<&User> for AdminUserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            locked: u.locked,
            email_verified: u.email_verified_at.is_some(),
            email_verified_at: u.email_verified_at.map(rfc3339),
            roles: u.roles.clone(),
            claims: u.claims.clone(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UserQuery {
    email: Option<String>,
}

/// Find a user by address (0 or 1 entries).
#[utoipa::path(get, path = "/v1/admin/users", operation_id = "admin_find_users", tag = "admin",
    params(("email" = String, Query, format = Email, description = "The address", example = "ada@example.com")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Matching users", body = schemas::AdminUserList),
        (status = 400, description = "`email` missing or malformed", body = schemas::Error),
        responses::AdminErrors,
    ))]
pub async fn find_users(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<UserQuery>,
) -> ApiResult<Json<Value>> {
    let email = q.email.ok_or_else(|| {
        ApiError::InvalidRequest("the `email` query parameter is required".into())
    })?;
    let email = Email::parse(&email)?;
    let users: Vec<AdminUserView> = state
        .store
        .user_by_email(&email)
        .await?
        .iter()
        .map(AdminUserView::from)
        .collect();
    Ok(Json(json!({ "users": users })))
}

fn parse_user_id(raw: &str) -> ApiResult<UserId> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

pub(crate) async fn load_user(state: &AppState, raw: &str) -> ApiResult<User> {
    state
        .store
        .user_by_id(parse_user_id(raw)?)
        .await?
        .ok_or(ApiError::NotFound)
}

/// One user.
#[utoipa::path(get, path = "/v1/admin/users/{id}", operation_id = "admin_get_user", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The user", body = schemas::AdminUser, links(
            ("sessions" = (operation_id = "admin_user_sessions", parameters(("id" = "$response.body#/id")))),
            ("roles" = (operation_id = "admin_get_roles", parameters(("id" = "$response.body#/id")))),
            ("claims" = (operation_id = "admin_get_claims", parameters(("id" = "$response.body#/id")))),
        )),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn get_user(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminUserView>> {
    Ok(Json(AdminUserView::from(&load_user(&state, &id).await?)))
}

#[derive(Debug, Deserialize)]
pub struct PatchUser {
    locked: bool,
}

/// Lock or unlock a user; locking revokes every session.
#[utoipa::path(patch, path = "/v1/admin/users/{id}", operation_id = "admin_patch_user", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    request_body(content((schemas::PatchUser = "application/json"))),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The user", body = schemas::AdminUser),
        responses::BodyErrors,
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn patch_user(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Input(body): Input<PatchUser>,
) -> ApiResult<Json<AdminUserView>> {
    let user = load_user(&state, &id).await?;
    accounts::set_locked(&state, user.id, body.locked, Some(&caller)).await?;
    Ok(Json(AdminUserView::from(&load_user(&state, &id).await?)))
}

/// A user's live sessions.
#[utoipa::path(get, path = "/v1/admin/users/{id}/sessions", operation_id = "admin_user_sessions", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The sessions", body = schemas::SessionList),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn user_sessions(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = load_user(&state, &id).await?;
    let list = sessions::list_live(&state, user.id).await?;
    let views: Vec<_> = list.iter().map(|s| SessionView::new(s, None)).collect();
    Ok(Json(json!({ "sessions": views })))
}

/// Revoke every session of a user.
#[utoipa::path(delete, path = "/v1/admin/users/{id}/sessions", operation_id = "admin_revoke_user_sessions", tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn revoke_user_sessions(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = load_user(&state, &id).await?;
    sessions::revoke_all(&state, user.id, None, Some(&caller)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    user_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<u32>,
    cursor: Option<i64>,
}

const EVENTS_DEFAULT_LIMIT: u32 = 50;
const EVENTS_MAX_LIMIT: u32 = 500;

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/admin/events", operation_id = "admin_events", tag = "admin",
    params(
        ("user_id" = Option<String>, Query, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Only this user's events"),
        ("type" = Option<String>, Query, description = "Only events of this type, e.g. `login_failed`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"),
        ("cursor" = Option<i64>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "A page of events", body = schemas::EventList),
        (status = 400, description = "A malformed `user_id` or a `limit` out of range", body = schemas::Error),
        responses::AdminErrors,
    ))]
pub async fn events(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<EventQuery>,
) -> ApiResult<Json<Value>> {
    let user_id = match q.user_id.as_deref() {
        Some(raw) => Some(
            raw.parse::<UserId>()
                .map_err(|_| ApiError::InvalidRequest("user_id is not a valid id".into()))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(EVENTS_DEFAULT_LIMIT);
    if !(1..=EVENTS_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be between 1 and {EVENTS_MAX_LIMIT}"
        )));
    }
    let query = AuditQuery {
        user_id,
        kind: q.kind,
        before_id: q.cursor,
        limit,
    };
    let events = tessera_engine::audit::list(&state, &query).await?;
    let next_cursor = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "type": e.event.kind,
                "at": rfc3339(e.event.at),
                "user_id": e.event.user_id.map(|u| u.to_string()),
                "session_id": e.event.session_id.map(|s| s.to_string()),
                "ip": e.event.ip,
                "user_agent": e.event.user_agent,
                "detail": e.event.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "events": items, "next_cursor": next_cursor })))
}

#[derive(Debug, Deserialize)]
pub struct NewClient {
    name: String,
}

/// Register a client (a resource server that may introspect); the secret is shown once.
#[utoipa::path(post, path = "/v1/admin/clients", operation_id = "admin_create_client", tag = "admin",
    request_body(content((schemas::NewClient = "application/json"))),
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "The client and its secret", body = schemas::CreatedClient, links(
            ("delete" = (operation_id = "admin_delete_client", parameters(("id" = "$response.body#/client_id")))),
        )),
        responses::BodyErrors,
        responses::AdminErrors,
    ))]
pub async fn create_client(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<NewClient>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (client, secret) = clients::create(&state, &body.name, Some(&caller)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "client_id": client.id.to_string(),
            "client_secret": secret.expose(),
            "name": client.name,
            "created_at": rfc3339(client.created_at),
        })),
    ))
}

/// The registered clients.
#[utoipa::path(get, path = "/v1/admin/clients", operation_id = "admin_list_clients", tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The clients", body = schemas::ClientList),
        responses::AdminErrors,
    ))]
pub async fn list_clients(_: Admin, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let list = clients::list(&state).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|c| json!({ "client_id": c.id.to_string(), "name": c.name, "created_at": rfc3339(c.created_at) }))
        .collect();
    Ok(Json(json!({ "clients": items })))
}

/// Delete a client.
#[utoipa::path(delete, path = "/v1/admin/clients/{id}", operation_id = "admin_delete_client", tag = "admin",
    params(("id" = String, Path, description = "A client id")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        responses::NotFound,
        responses::AdminErrors,
    ))]
pub async fn delete_client(
    _: Admin,
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    clients::delete(&state, &id, Some(&caller)).await?;
    Ok(StatusCode::NO_CONTENT)
}
