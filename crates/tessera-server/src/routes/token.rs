//! Token-based authentication: `POST /v1/token` (password and refresh grants), revocation
//! (RFC 7009) and introspection (RFC 7662).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use tessera_core::{SecretToken, TokenKind};

use crate::cookies::{self, REFRESH_COOKIE_PATH};
use crate::csrf;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Input};
use crate::openapi::{responses, schemas};
use crate::routes::session::Transport;
use crate::state::AppState;
use tessera_engine::clients;
use tessera_engine::factors::Proof;
use tessera_engine::grants::{self, Grant, GrantType, DEFAULT_CLIENT_ID};
use tessera_engine::tokens;

const CLIENT_ID_MAX_CHARS: usize = 100;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    #[serde(alias = "email")]
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    /// Unlike `POST /v1/session`, the token endpoint answers in the body unless asked for
    /// cookies: its usual clients are not browsers. A refresh by cookie ignores it.
    transport: Option<Transport>,
    csrf_token: Option<String>,
    /// The `mfa-otp` grant: the pending step and one of the two proofs.
    mfa_token: Option<String>,
    otp: Option<String>,
    recovery_code: Option<String>,
}

impl TokenRequest {
    fn transport(&self) -> Transport {
        self.transport.unwrap_or(Transport::Body)
    }
}

/// RFC 6749 §5.1 wants the token response uncached by any intermediary.
fn token_response(body: serde_json::Value, cookies: Vec<HeaderValue>) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

fn client_id(raw: Option<&str>) -> ApiResult<String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_CLIENT_ID.to_owned()),
        Some(id)
            if id.chars().count() <= CLIENT_ID_MAX_CHARS
                && id.chars().all(|c| c.is_ascii_graphic()) =>
        {
            Ok(id.to_owned())
        }
        Some(_) => Err(ApiError::InvalidRequest(
            "client_id must be up to 100 printable ASCII characters".into(),
        )),
    }
}

/// Issue tokens (RFC 6749): the password grant and the refresh grant.
///
/// Every grant failure is one 400 `invalid_grant`. With `transport=cookie` (and always for a
/// refresh token that came as the refresh cookie) the tokens are set as cookies instead.
#[utoipa::path(post, path = "/v1/token", operation_id = "token", tag = "tokens",
    request_body(content(
        (schemas::TokenRequest = "application/x-www-form-urlencoded"),
        (schemas::TokenRequest = "application/json"),
    )),
    security((), ("access_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "Tokens issued", body = schemas::TokenResponse,
            headers(
                ("Pragma" = String, description = "`no-cache`"),
                ("Set-Cookie" = String, description = "The token cookies in cookie transport"),
            ),
            links(
                ("introspect" = (operation_id = "introspect", request_body = json!({"token": "$response.body#/access_token"}))),
                ("refresh" = (operation_id = "token", request_body = json!({"grant_type": "refresh_token", "refresh_token": "$response.body#/refresh_token"}))),
                ("revoke" = (operation_id = "revoke_token", request_body = json!({"token": "$response.body#/refresh_token"}))),
            )),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unsupported_grant_type` or `invalid_scope`; or `mfa_required` for a password grant whose account has a second factor (complete it with the `mfa-otp` grant)", body = crate::openapi::factors::PasswordStepRefused),
        (status = 403, description = "Cookie transport from a foreign origin, or a refresh by cookie without its CSRF token", body = schemas::Error),
        responses::BodyErrors,
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Input(body): Input<TokenRequest>,
) -> ApiResult<Response> {
    let client_id = client_id(body.client_id.as_deref())?;
    let Some(grant_type) = body.grant_type.as_deref() else {
        return Err(ApiError::InvalidRequest(
            "missing field `grant_type`".into(),
        ));
    };
    let grant_type = GrantType::parse(grant_type).ok_or(ApiError::UnsupportedGrantType)?;
    let (grant, transport) = match grant_type {
        GrantType::Password => (
            password_grant(&state, &caller, &headers, &body, &client_id).await?,
            body.transport(),
        ),
        GrantType::RefreshToken => {
            refresh_grant(&state, &caller, &headers, &body, &client_id).await?
        }
        GrantType::MfaOtp => (
            mfa_grant(&state, &caller, &headers, &body).await?,
            body.transport(),
        ),
    };
    Ok(grant_response(&state, &grant, transport))
}

async fn password_grant(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &TokenRequest,
    client_id: &str,
) -> ApiResult<Grant> {
    let (Some(username), Some(password)) = (body.username.as_deref(), body.password.as_deref())
    else {
        return Err(ApiError::InvalidRequest(
            "the password grant needs `username` and `password`".into(),
        ));
    };
    if body.transport() == Transport::Cookie {
        csrf::require_same_origin(headers, &state.web.public_origin)?;
    }
    let scope = body.scope.as_deref();
    Ok(grants::password::grant(state, username, password, client_id, scope, caller).await?)
}

/// The second step of a password grant. The client and scope are the first step's; a
/// `client_id` or `scope` sent now is ignored.
async fn mfa_grant(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &TokenRequest,
) -> ApiResult<Grant> {
    let Some(mfa_token) = body.mfa_token.as_deref() else {
        return Err(ApiError::InvalidRequest(
            "the mfa-otp grant needs `mfa_token`".into(),
        ));
    };
    let proof = match (body.otp.as_deref(), body.recovery_code.as_deref()) {
        (Some(otp), None) => Proof::totp(otp),
        (None, Some(code)) => Proof::recovery_code(code),
        _ => {
            return Err(ApiError::InvalidRequest(
                "the mfa-otp grant needs either `otp` or `recovery_code`".into(),
            ))
        }
    };
    if body.transport() == Transport::Cookie {
        csrf::require_same_origin(headers, &state.web.public_origin)?;
    }
    Ok(grants::mfa::grant(state, mfa_token, proof, caller).await?)
}

/// The grant and how to answer it. A refresh token that came as the cookie gets its successor as
/// cookies whatever `transport` says: in the body, script could read both tokens, and the
/// browser would keep sending the spent cookie until its next refresh tripped reuse detection.
async fn refresh_grant(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &TokenRequest,
    client_id: &str,
) -> ApiResult<(Grant, Transport)> {
    let from_body = body.refresh_token.as_deref();
    let from_cookie = cookies::read(headers, state.web.cookies.refresh);
    let Some(presented) = from_body.or(from_cookie.as_deref()) else {
        return Err(ApiError::InvalidRequest(
            "missing field `refresh_token`".into(),
        ));
    };
    let Some(secret) = SecretToken::parse(TokenKind::Refresh, presented) else {
        return Err(ApiError::InvalidGrant);
    };
    let transport = if from_body.is_none() {
        // The browser attached the cookie on its own: the same CSRF rule as every cookie
        // request, checked before the token is spent.
        check_cookie_refresh_csrf(state, headers, body, &secret).await?;
        Transport::Cookie
    } else {
        body.transport()
    };
    let scope = body.scope.as_deref();
    let grant = grants::refresh::grant(state, &secret, client_id, scope, caller).await?;
    Ok((grant, transport))
}

async fn check_cookie_refresh_csrf(
    state: &AppState,
    headers: &HeaderMap,
    body: &TokenRequest,
    secret: &SecretToken,
) -> ApiResult<()> {
    csrf::require_same_origin(headers, &state.web.public_origin)?;
    let Some(session_id) = grants::refresh::session_of(state, secret).await? else {
        return Err(ApiError::InvalidGrant);
    };
    let presented = headers
        .get(csrf::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(body.csrf_token.as_deref());
    csrf::require_token(&state.secrets.csrf, session_id, presented)
}

/// The two token cookies of cookie transport.
pub(crate) fn grant_cookies(state: &AppState, grant: &Grant) -> Vec<HeaderValue> {
    let names = &state.web.cookies;
    let mut cookies = vec![names.set(
        names.access,
        &grant.access.token,
        "/",
        state.tokens.cfg.access_ttl.whole_seconds(),
    )];
    if let Some(refresh) = &grant.refresh {
        let max_age = (refresh.expires_at - state.clock.now()).whole_seconds();
        cookies.push(names.set(
            names.refresh,
            refresh.secret.expose(),
            REFRESH_COOKIE_PATH,
            max_age,
        ));
    }
    cookies
}

pub(crate) fn grant_response(state: &AppState, grant: &Grant, transport: Transport) -> Response {
    // The configured lifetime: `exp` is whole seconds, so `exp - now` would read 299 for a
    // five-minute token issued mid-second.
    let expires_in = state.tokens.cfg.access_ttl.whole_seconds();
    let (mut body, cookies) = match transport {
        Transport::Body => {
            let mut body = json!({
                "access_token": grant.access.token,
                "token_type": "Bearer",
                "expires_in": expires_in,
            });
            if let Some(refresh) = &grant.refresh {
                body["refresh_token"] = json!(refresh.secret.expose());
            }
            (body, Vec::new())
        }
        Transport::Cookie => (
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in,
                "csrf_token": csrf::token_for(&state.secrets.csrf, grant.session_id),
            }),
            grant_cookies(state, grant),
        ),
    };
    // RFC 6749 §5.1 requires `scope` only when it differs from the request; it is always sent
    // when there is one, so a client never has to compare.
    if let Some(scope) = &grant.scope {
        body["scope"] = json!(scope.to_string());
    }
    token_response(body, cookies)
}

#[derive(Debug, Deserialize)]
pub struct TokenParam {
    token: Option<String>,
    /// Accepted per RFC 7009/7662 and ignored: the token's own prefix says what it is.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// Revoke a token (RFC 7009).
///
/// 200 whether or not the token was valid, so the endpoint reveals nothing. A refresh token,
/// an access token or a `tss_` token ends its session.
#[utoipa::path(post, path = "/v1/token/revoke", operation_id = "revoke_token", tag = "tokens",
    request_body(content(
        (schemas::TokenParam = "application/x-www-form-urlencoded"),
        (schemas::TokenParam = "application/json"),
    )),
    responses(
        (status = 200, description = "Done (or nothing to do)", body = schemas::Empty),
        responses::BodyErrors,
        responses::Unavailable,
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Input(body): Input<TokenParam>,
) -> ApiResult<Response> {
    let token = body
        .token
        .ok_or_else(|| ApiError::InvalidRequest("missing field `token`".into()))?;
    tokens::revoke_token(&state, token.trim(), &caller).await?;
    Ok(Json(json!({})).into_response())
}

/// Introspect a token (RFC 7662), for registered clients authenticating with HTTP Basic.
///
/// Accepts access tokens, refresh tokens and `tss_` session tokens.
#[utoipa::path(post, path = "/v1/token/introspect", operation_id = "introspect", tag = "tokens",
    request_body(content(
        (schemas::TokenParam = "application/x-www-form-urlencoded"),
        (schemas::TokenParam = "application/json"),
    )),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "`active` and, when it is, the token's claims", body = schemas::Introspection),
        responses::BodyErrors,
        responses::InvalidClient,
        responses::RateLimited,
        responses::Unavailable,
    ))]
pub async fn introspect(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Input(body): Input<TokenParam>,
) -> ApiResult<Json<serde_json::Value>> {
    let (id, secret) = basic_credentials(&headers).ok_or(ApiError::InvalidClient)?;
    if clients::authenticate(&state, &id, &secret, &caller)
        .await?
        .is_none()
    {
        return Err(ApiError::InvalidClient);
    }
    let token = body
        .token
        .ok_or_else(|| ApiError::InvalidRequest("missing field `token`".into()))?;
    Ok(Json(tokens::introspect(&state, token.trim()).await?))
}

/// `Authorization: Basic base64(client_id:client_secret)`, with the RFC 6749 §2.3.1 form
/// encoding of each part.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}
