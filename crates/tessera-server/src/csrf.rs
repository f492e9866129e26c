//! CSRF defence for cookie-authenticated requests, as a middleware layer.
//!
//! A request authenticated by a cookie with an unsafe method must
//! 1. not come from another origin: `Origin`, else `Sec-Fetch-Site`, else `Referer` is checked
//!    against `server.public_url`; when none is present the token alone decides; and
//! 2. carry the session's CSRF token in `X-CSRF-Token` (or a `csrf_token` form field).
//!
//! The token is an HMAC of the session id under a server secret: it needs no storage, is the
//! same on every instance, cannot be computed by another site, and dies with its session.
//! Requests authenticated by an `Authorization` header are exempt: a browser never attaches
//! that header on its own, so a cross-site request cannot carry it.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tessera_core::secret::{constant_time_eq, keyed_tag};
use tessera_core::SessionId;

use crate::auth::Credential;
use crate::config::public_origin;
use crate::error::ApiError;
use crate::forwarded;
use crate::state::AppState;

pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session.
pub fn token_for(secret: &[u8; 32], session: SessionId) -> String {
    keyed_tag(secret, &[b"tessera-csrf-v1", session.0.as_bytes()])
}

use crate::forwarded::is_unsafe;

/// Whether the CSRF rule applies to the request's method. For `/v1/check` the methods that count
/// are the request's own and the ones a proxy reports (see [`crate::forwarded`]): any unsafe,
/// unparsable or disagreeing one makes it unsafe. Otherwise an attacker who can add a header (or
/// a proxy that appends one) could turn the POST being checked into the GET that carries it.
fn needs_csrf_check(req: &Request) -> bool {
    if forwarded::is_check_path(req.uri().path()) {
        return forwarded::check_is_unsafe(req.method(), req.headers());
    }
    is_unsafe(req.method())
}

/// The origin a cookie request must come from: this server's, or for `/v1/check` the origin of
/// the request a trusted proxy asks about (a POST to the protected app carries the app's
/// `Origin`).
fn expected_origin(state: &AppState, req: &Request) -> String {
    let path = req.uri().path();
    if !forwarded::is_check_path(path) {
        return state.web.public_origin.clone();
    }
    let Ok((_, source)) = crate::forwarded::mode_and_source(req.uri()) else {
        return state.web.public_origin.clone();
    };
    forwarded::original_url(
        req.headers(),
        req.uri(),
        source,
        forwarded::peer_ip(req.extensions()),
        &state.web.config.server.trusted_proxies,
    )
    .and_then(|url| public_origin(&url))
    .unwrap_or_else(|| state.web.public_origin.clone())
}

/// Whether the request's provenance headers name a foreign origin.
pub fn is_cross_origin(headers: &HeaderMap, public_origin_value: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        return public_origin(origin).as_deref() != Some(public_origin_value);
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    if let Some(referer) = headers.get(header::REFERER) {
        let referer = referer.to_str().unwrap_or("");
        return public_origin(referer).as_deref() != Some(public_origin_value);
    }
    false
}

/// Endpoints that authenticate with a password, not with the cookie the browser may also send:
/// a stale cookie must not make a login need a CSRF token. (Login CSRF is handled by the login
/// handler's own origin check.)
/// The token endpoints authenticate by what is in the body (or Basic auth) and apply the cookie
/// rule themselves for the refresh cookie.
/// The second step of a login authenticates with its pending-step token in the body.
const PASSWORD_AUTHENTICATED: &[&str] = &[
    "/v1/session",
    "/v1/session/mfa",
    "/v1/users",
    "/v1/token",
    "/v1/token/revoke",
    "/v1/token/introspect",
];

/// 403 when the request's provenance headers name a foreign origin.
pub fn require_same_origin(headers: &HeaderMap, public_origin_value: &str) -> Result<(), ApiError> {
    if is_cross_origin(headers, public_origin_value) {
        return Err(ApiError::Forbidden("cross-origin request refused"));
    }
    Ok(())
}

/// 403 unless `presented` is the CSRF token of `session`, compared in constant time.
pub fn require_token(
    secret: &[u8; 32],
    session: SessionId,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    let expected = token_for(secret, session);
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Forbidden("missing or invalid CSRF token")),
    }
}

pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST && PASSWORD_AUTHENTICATED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let session_id = match req.extensions().get::<Credential>() {
        Some(Credential::Valid(p)) if p.via_cookie => p.session_id,
        _ => return next.run(req).await,
    };
    if !needs_csrf_check(&req) {
        return next.run(req).await;
    }
    if let Err(err) = require_same_origin(req.headers(), &expected_origin(&state, &req)) {
        return err.into_response();
    }
    let (req, presented) = match presented_token(req, state.web.config.server.body_limit).await {
        Ok(found) => found,
        Err(err) => return err.into_response(),
    };
    match require_token(&state.secrets.csrf, session_id, presented.as_deref()) {
        Ok(()) => next.run(req).await,
        Err(err) => err.into_response(),
    }
}

/// The header, or for HTML form posts the `csrf_token` field. Reading the form means buffering
/// the body; it is put back unchanged for the handler.
async fn presented_token(
    req: Request,
    limit: usize,
) -> Result<(Request, Option<String>), ApiError> {
    if let Some(v) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let token = v.to_owned();
        return Ok((req, Some(token)));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    // `/v1/check` never reads a body: proxies send none, and Envoy may announce one it withholds.
    if !is_form || forwarded::is_check_path(req.uri().path()) {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn origin_then_fetch_site_then_referer() {
        let me = "https://auth.example.com";
        let mut h = HeaderMap::new();
        assert!(!is_cross_origin(&h, me), "no provenance: the token decides");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://evil.example/x"),
        );
        assert!(is_cross_origin(&h, me));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!is_cross_origin(&h, me), "Sec-Fetch-Site outranks Referer");
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(
            is_cross_origin(&h, me),
            "Origin outranks both; null is foreign"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://AUTH.example.com"),
        );
        assert!(!is_cross_origin(&h, me));
    }

    #[test]
    fn tokens_are_bound_to_session_and_secret() {
        let a = SessionId::random();
        let b = SessionId::random();
        assert_eq!(token_for(&[1; 32], a), token_for(&[1; 32], a));
        assert_ne!(token_for(&[1; 32], a), token_for(&[1; 32], b));
        assert_ne!(token_for(&[1; 32], a), token_for(&[2; 32], a));
    }
}
