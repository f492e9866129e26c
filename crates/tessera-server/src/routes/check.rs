//! `/v1/check` (any method, and any path under it): one answer for every credential, for
//! reverse proxies' forward-auth hooks and for services that do not link the middleware crate.
//!
//! Proxies differ in what they do with the answer, so the caller names its proxy:
//! `?mode=nginx|ingress-nginx|traefik|caddy|envoy` on `/v1/check`, or a path `/v1/check/<mode>`;
//! for Envoy, whose `path_prefix` is followed by the original path, `/v1/check/envoy/<path>`.
//!
//! | mode | allowed | denied | browser page load, denied |
//! |---|---|---|---|
//! | none (default) | 200 | 401 | 401 |
//! | `nginx`, `ingress-nginx` | 200 | 401 | 401 + `X-Auth-Redirect: <login URL>` (nginx turns any other status into 500) |
//! | `traefik`, `caddy`, `envoy` | 200 | 401 | 302 to the login URL (the proxy relays it) |
//!
//! The body is never read.

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::forwarded::{self, mode_and_source, Mode, UrlSource};
use crate::routes::pages::return_to;
use crate::routes::views::rfc3339;
use crate::state::AppState;

pub const REDIRECT_HEADER: &str = "x-auth-redirect";

pub async fn check(State(state): State<AppState>, parts: Parts) -> Response {
    let mode = match mode_and_source(&parts.uri) {
        Ok((mode, _)) => mode,
        Err(err) => return err.into_response(),
    };
    match parts.extensions.get::<Credential>() {
        Some(Credential::Valid(p)) => allowed(p),
        Some(Credential::Invalid { bearer: true }) => denied(&state, &parts, mode, true),
        _ => denied(&state, &parts, mode, false),
    }
}

fn allowed(p: &Arc<Principal>) -> Response {
    let body = Json(json!({
        "user_id": p.user_id.to_string(),
        "session_id": p.session_id.to_string(),
        "method": p.method.as_str(),
        "expires_at": rfc3339(p.expires_at),
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("ids are ASCII");
    headers.insert("x-auth-user", value(p.user_id.to_string()));
    headers.insert("x-auth-session", value(p.session_id.to_string()));
    headers.insert("x-auth-method", HeaderValue::from_static(p.method.as_str()));
    // Always present, empty when the credential carries no email (an access token), so a
    // proxy that copies it overrides a client's copy. Internationalised addresses travel as raw
    // UTF-8 bytes, which proxies pass through.
    let email = p
        .email
        .as_ref()
        .and_then(|e| HeaderValue::from_bytes(e.as_str().as_bytes()).ok())
        .unwrap_or(HeaderValue::from_static(""));
    headers.insert("x-auth-email", email);
    response
}

fn denied(state: &AppState, parts: &Parts, mode: Mode, bearer: bool) -> Response {
    let mut response = ApiError::Unauthorized { bearer }.into_response();
    let headers = response.headers_mut();
    headers
        .entry(header::WWW_AUTHENTICATE)
        .or_insert(HeaderValue::from_static("Bearer realm=\"tessera\""));
    if mode == Mode::Plain || !is_page_load(parts) {
        return response;
    }
    let Ok(login) = HeaderValue::from_str(&login_url(state, parts)) else {
        return response;
    };
    if mode == Mode::Nginx {
        headers.insert(REDIRECT_HEADER, login);
        return response;
    }
    let mut redirect = (StatusCode::FOUND, [(header::LOCATION, login)]).into_response();
    redirect
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    redirect
}

/// A browser loading a page: only GET or HEAD, with `text/html` in `Accept`. API clients and
/// `fetch` calls get the 401 they can act on instead of a redirect they cannot follow.
fn is_page_load(parts: &Parts) -> bool {
    forwarded::is_navigation_method(&parts.method, &parts.headers) && accepts_html(&parts.headers)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))
        })
}

/// This server's sign-in page, with the original URL to come back to when a trusted proxy
/// reported it and its origin is this server's or one of `server.allowed_return_origins`.
fn login_url(state: &AppState, parts: &Parts) -> String {
    let server = &state.web.config.server;
    let base = format!("{}/login", server.public_url.trim_end_matches('/'));
    let original = forwarded::original_url(
        &parts.headers,
        &parts.uri,
        mode_and_source(&parts.uri).map_or(UrlSource::Forwarded, |(_, source)| source),
        forwarded::peer_ip(&parts.extensions),
        &server.trusted_proxies,
    );
    let back = original.as_deref().and_then(|url| {
        return_to::safe(
            url,
            &state.web.public_origin,
            &server.allowed_return_origins,
        )
    });
    match back {
        Some(url) => {
            let encoded: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
            format!("{base}?return_to={encoded}")
        }
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_must_be_named_in_accept() {
        let mut h = HeaderMap::new();
        assert!(!accepts_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html;q=0.9, */*"),
        );
        assert!(accepts_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/htmlx"),
        );
        assert!(!accepts_html(&h));
    }
}
