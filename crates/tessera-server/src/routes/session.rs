//! Session-based authentication: login, current session, logout, device list, password change.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::session::SessionLifetimes;
use tessera_core::{
    CustomClaims, Roles, Scope, SecretToken, Session, SessionId, SessionKind, UserId,
};

use crate::auth::Authenticated;
use crate::cookies;
use crate::csrf;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input, QueryParams};
use crate::openapi::{responses, schemas};
use crate::routes::token;
use crate::routes::views::SessionView;
use crate::state::AppState;
use tessera_engine::accounts::{self, Successor};
use tessera_engine::sessions;
use tessera_engine::EngineError;

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    transport: Transport,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Cookie,
    Body,
}

impl Transport {
    /// The kind of session a login with this transport opens.
    pub const fn session_kind(self) -> SessionKind {
        match self {
            Self::Cookie => SessionKind::Cookie,
            Self::Body => SessionKind::Header,
        }
    }
}

/// Sign in with email and password.
///
/// Opens a session: with `transport = cookie` (the default) the secret is set as the session
/// cookie, with `body` it is returned as `session_token`. Wrong email, wrong password and a
/// locked account all get the same 401.
#[utoipa::path(post, path = "/v1/session", operation_id = "login", tag = "sessions",
    request_body(content(
        (schemas::Login = "application/json"),
        (schemas::Login = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in", body = schemas::LoginResponse,
            headers(("Set-Cookie" = String, description = "The session cookie (transport `cookie`)")),
            links(
                ("current_session" = (operation_id = "current_session")),
                ("sessions" = (operation_id = "list_sessions")),
                ("revoke_session" = (operation_id = "revoke_session",
                    parameters(("id" = "$response.body#/session/id")))),
            )),
        responses::BodyErrors,
        (status = 401, description = "`invalid_grant`: wrong email or password, or a locked account; or `mfa_required` (the password was right, a second factor is needed: `POST /v1/session/mfa`)", body = crate::openapi::factors::PasswordStepRefused),
        (status = 403, description = "Cookie transport from a foreign origin", body = schemas::Error),
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn login(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Input(body): Input<LoginRequest>,
) -> ApiResult<Response> {
    // Login CSRF: a foreign page must not be able to sign a browser into the attacker's account.
    if body.transport == Transport::Cookie {
        csrf::require_same_origin(&headers, &state.web.public_origin)?;
    }
    let kind = body.transport.session_kind();
    let login = sessions::login(&state, &body.email, &body.password, kind, None, &caller)
        .await
        .map_err(session_login_error)?;
    login_response(&state, &caller, &headers, body.transport, &login).await
}

/// A failed login at `/v1/session` (either step): 401 for wrong credentials and for the
/// pending second step, where the token endpoint answers 400 as RFC 6749 errors are.
pub(crate) fn session_login_error(e: EngineError) -> ApiError {
    match e {
        EngineError::InvalidGrant => ApiError::BadCredentials,
        EngineError::SecondFactorRequired(challenge) => ApiError::SecondFactorRequired {
            challenge,
            status: StatusCode::UNAUTHORIZED,
        },
        other => other.into(),
    }
}

/// What a completed login answers, whichever step completed it: the session, its CSRF token,
/// and the secret as a cookie or in the body.
pub(crate) async fn login_response(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    transport: Transport,
    login: &sessions::Login,
) -> ApiResult<Response> {
    let csrf_token = csrf::token_for(&state.secrets.csrf, login.session.id);
    let view = SessionView::new(&login.session, Some(login.session.id));
    Ok(match transport {
        Transport::Body => Json(json!({
            "session": view,
            "csrf_token": csrf_token,
            "session_token": login.secret.expose(),
        }))
        .into_response(),
        Transport::Cookie => {
            let replaced = cookies::read(headers, state.web.cookies.session);
            sessions::end_replaced(state, replaced.as_deref(), login.session.id, caller).await?;
            let cookie = session_cookie(state, &login.session, &login.secret);
            (
                [(header::SET_COOKIE, cookie)],
                Json(json!({ "session": view, "csrf_token": csrf_token })),
            )
                .into_response()
        }
    })
}

/// The session cookie for a new cookie session, as every cookie login sets it.
pub(crate) fn session_cookie(
    state: &AppState,
    session: &Session,
    secret: &SecretToken,
) -> HeaderValue {
    let max_age = SessionLifetimes::max_age_seconds(session, state.clock.now());
    state
        .web
        .cookies
        .set(state.web.cookies.session, secret.expose(), "/", max_age)
}

/// The `Set-Cookie` values that hand a cookie caller its successor after a password change.
pub(crate) fn successor_cookies(state: &AppState, successor: &Successor) -> Vec<HeaderValue> {
    match successor {
        Successor::Session(session, secret) => vec![session_cookie(state, session, secret)],
        Successor::Tokens(grant) => token::grant_cookies(state, grant),
    }
}

/// The current session and user.
///
/// Counts as activity (the idle timeout slides).
#[utoipa::path(get, path = "/v1/session", operation_id = "current_session", tag = "sessions",
    security(("bearer" = []), ("session_cookie" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The caller's session", body = schemas::CurrentSession),
        responses::Unauthorized,
        responses::Unavailable,
    ))]
pub async fn current(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Response> {
    let session = match &p.session {
        Some(s) => s.clone(),
        None => sessions::find_own(&state, p.user_id, p.session_id)
            .await?
            .ok_or(ApiError::Unauthorized { bearer: true })?,
    };
    let email = match &p.email {
        Some(e) => e.to_string(),
        None => state
            .store
            .user_by_id(p.user_id)
            .await?
            .map(|u| u.email.to_string())
            .unwrap_or_default(),
    };
    // Roles, claims and scope as this credential carries them: read with the session for a
    // session secret, as issued for an access token.
    Ok(Json(CurrentBody {
        session: SessionView::new(&session, Some(p.session_id)),
        user: CurrentUser {
            id: p.user_id,
            email,
            roles: &p.roles,
            claims: &p.claims,
        },
        scope: p.scope.as_ref(),
        csrf_token: csrf::token_for(&state.secrets.csrf, p.session_id),
    })
    .into_response())
}

/// `GET /v1/session`, serialised straight from its parts: every session check pays for this
/// body, and a `serde_json::Value` tree in between cost an allocation per key and value.
#[derive(Serialize)]
struct CurrentBody<'a> {
    session: SessionView,
    user: CurrentUser<'a>,
    scope: Option<&'a Scope>,
    csrf_token: String,
}

#[derive(Serialize)]
struct CurrentUser<'a> {
    id: UserId,
    email: String,
    roles: &'a Roles,
    claims: &'a CustomClaims,
}

/// Sign out: the session is revoked and its cookie cleared.
#[utoipa::path(delete, path = "/v1/session", operation_id = "logout", tag = "sessions",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Signed out",
            headers(("Set-Cookie" = String, description = "Clears the cookie(s)"))),
        responses::UserErrors,
    ))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
) -> ApiResult<Response> {
    sessions::revoke(
        &state,
        p.session_id,
        p.user_id,
        tessera_engine::AuditKind::Logout,
        Some(&caller),
    )
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        state.web.cookies.clear(state.web.cookies.session, "/"),
    );
    if p.method == crate::auth::AuthMethod::AccessToken && p.via_cookie {
        headers.append(
            header::SET_COOKIE,
            state.web.cookies.clear(state.web.cookies.access, "/"),
        );
        headers.append(
            header::SET_COOKIE,
            state.web.cookies.clear(
                state.web.cookies.refresh,
                crate::cookies::REFRESH_COOKIE_PATH,
            ),
        );
    }
    Ok(response)
}

/// Every live session of the caller (all kinds); `current` marks this one.
#[utoipa::path(get, path = "/v1/sessions", operation_id = "list_sessions", tag = "sessions",
    security(("bearer" = []), ("session_cookie" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The caller's sessions", body = schemas::SessionList),
        responses::Unauthorized,
        responses::Unavailable,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<serde_json::Value>> {
    let list = sessions::list_live(&state, p.user_id).await?;
    let views: Vec<_> = list
        .iter()
        .map(|s| SessionView::new(s, Some(p.session_id)))
        .collect();
    Ok(Json(json!({ "sessions": views })))
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/v1/sessions/{id}", operation_id = "revoke_session", tag = "sessions",
    params(("id" = String, Path, description = "A session id")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "Not one of the caller's live sessions (malformed ids too)", body = schemas::Error),
        responses::UserErrors,
    ))]
pub async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: SessionId = id.parse().map_err(|_| ApiError::NotFound)?;
    let session = sessions::find_own(&state, p.user_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    sessions::revoke(
        &state,
        session.id,
        p.user_id,
        tessera_engine::AuditKind::SessionRevoked,
        Some(&caller),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct ScopeQuery {
    scope: Option<String>,
}

/// Revoke every session of the caller but the current one.
#[utoipa::path(delete, path = "/v1/sessions", operation_id = "revoke_other_sessions", tag = "sessions",
    params(("scope" = inline(schemas::OthersScope), Query, description = "Must be `others`")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`scope` is not `others`", body = schemas::Error),
        responses::UserErrors,
    ))]
pub async fn revoke_others(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> ApiResult<StatusCode> {
    if q.scope.as_deref() != Some("others") {
        return Err(ApiError::InvalidRequest("scope must be `others`".into()));
    }
    sessions::end_others(&state, &p, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Change the password.
///
/// Every other session of the user ends and the caller's own is rotated: a cookie caller gets
/// the successor as cookies (204), a header caller in the body (200).
#[utoipa::path(post, path = "/v1/password", operation_id = "change_password", tag = "accounts",
    request_body(content(
        (schemas::ChangePassword = "application/json"),
        (schemas::ChangePassword = "application/x-www-form-urlencoded"),
    )),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = []), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "Header caller: the successor credential", body = schemas::PasswordChanged),
        (status = 204, description = "Cookie caller: the successor as cookies",
            headers(("Set-Cookie" = String, description = "The successor's cookie(s)"))),
        responses::BodyErrors,
        responses::UserErrors,
        responses::RateLimited,
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Authenticated(p): Authenticated,
    Input(body): Input<ChangePassword>,
) -> ApiResult<Response> {
    let successor = accounts::change_password_and_rotate(
        &state,
        &p,
        &body.current_password,
        &body.new_password,
        &caller,
    )
    .await?;
    // A cookie caller gets its successor as cookies and keeps the 204 (its new CSRF token comes
    // from `GET /v1/session`); a header caller cannot be handed a new credential but in a body.
    if p.via_cookie {
        let mut response = StatusCode::NO_CONTENT.into_response();
        for cookie in successor_cookies(&state, &successor) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        return Ok(response);
    }
    Ok(match successor {
        Successor::Session(session, secret) => Json(json!({
            "session": SessionView::new(&session, Some(session.id)),
            "session_token": secret.expose(),
        }))
        .into_response(),
        Successor::Tokens(grant) => token::grant_response(&state, &grant, Transport::Body),
    })
}
