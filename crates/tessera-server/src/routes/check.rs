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
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::forwarded::{self, UrlSource};
use crate::routes::pages::return_to;
use crate::routes::views::rfc3339;
use crate::state::AppState;

pub const REDIRECT_HEADER: &str = "x-auth-redirect";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Nginx,
    Redirecting,
}

impl Mode {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "nginx" | "ingress-nginx" => Some(Self::Nginx),
            "traefik" | "caddy" | "envoy" => Some(Self::Redirecting),
            _ => None,
        }
    }
}

/// The mode named by the path's first segment under `/v1/check`, and what follows it.
fn path_mode(path: &str) -> Option<(Mode, &str)> {
    let rest = path.strip_prefix("/v1/check/")?;
    let (name, tail) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    Mode::parse(name).map(|mode| (mode, tail))
}

/// The mode a request to `/v1/check…` names, and where the original URL is read from (also
/// used by the CSRF layer). Under `/v1/check/envoy` (or a sub-path that names no mode, as with
/// an Envoy `path_prefix` of `/v1/check`) the rest of the path is the original one.
pub fn mode_and_source(uri: &Uri) -> Result<(Mode, UrlSource<'_>), ApiError> {
    let path = uri.path();
    if let Some((mode, tail)) = path_mode(path) {
        let source = match mode {
            Mode::Nginx => UrlSource::Original,
            _ if path.starts_with("/v1/check/envoy") => {
                UrlSource::PathSuffix(if tail.is_empty() { "/" } else { tail })
            }
            _ => UrlSource::Forwarded,
        };
        return Ok((mode, source));
    }
    if let Some(tail) = path
        .strip_prefix("/v1/check")
        .filter(|t| t.starts_with('/'))
    {
        return Ok((Mode::Plain, UrlSource::PathSuffix(tail)));
    }
    let named = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.into_owned());
    let Some(name) = named else {
        return Ok((Mode::Plain, UrlSource::Forwarded));
    };
    let mode = Mode::parse(&name).ok_or_else(|| {
        ApiError::InvalidRequest(
            "mode: expected nginx, ingress-nginx, traefik, caddy or envoy".into(),
        )
    })?;
    let source = if mode == Mode::Nginx {
        UrlSource::Original
    } else {
        UrlSource::Forwarded
    };
    Ok((mode, source))
}

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
    fn modes_come_from_the_first_segment() {
        assert_eq!(path_mode("/v1/check/nginx"), Some((Mode::Nginx, "")));
        assert_eq!(
            path_mode("/v1/check/envoy/app/x"),
            Some((Mode::Redirecting, "/app/x"))
        );
        assert_eq!(path_mode("/v1/check/app"), None);
        assert_eq!(path_mode("/v1/check"), None);
        let source = |uri: &'static str| {
            let uri: Uri = uri.parse().unwrap();
            mode_and_source(&uri).map(|(_, s)| format!("{s:?}")).ok()
        };
        assert_eq!(
            source("/v1/check/envoy/a?b").as_deref(),
            Some("PathSuffix(\"/a\")")
        );
        assert_eq!(
            source("/v1/check/envoy").as_deref(),
            Some("PathSuffix(\"/\")")
        );
        assert_eq!(
            source("/v1/check/app/a").as_deref(),
            Some("PathSuffix(\"/app/a\")")
        );
        assert_eq!(source("/v1/check/traefik").as_deref(), Some("Forwarded"));
        assert_eq!(source("/v1/check?mode=caddy").as_deref(), Some("Forwarded"));
        assert_eq!(source("/v1/check/nginx").as_deref(), Some("Original"));
        assert_eq!(
            source("/v1/check?mode=ingress-nginx").as_deref(),
            Some("Original")
        );
        assert_eq!(source("/v1/check?mode=apache"), None);
    }

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
