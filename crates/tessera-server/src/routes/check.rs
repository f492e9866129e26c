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
//!
//! `?role=R` and `?scope=S` (repeatable; a `scope` value may name several, space-separated)
//! make the check also require that the credential carries every role and scope named: one
//! that does not gets 403, while 401 keeps meaning "no valid credential". `?aal=2` requires a
//! session that used a second factor (`aal=1` is met by any credential); a lower one gets 403.

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tessera_core::{CustomClaims, Roles, Scope, SessionId, UserId};

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
        Some(Credential::Valid(p)) => match Required::of(&parts.uri) {
            Err(err) => err.into_response(),
            Ok(required) if !required.authz_met_by(p) => {
                ApiError::Forbidden("the credential does not carry a required role or scope")
                    .into_response()
            }
            Ok(required) if required.aal > p.amr.aal() => ApiError::Forbidden(
                "the session's assurance level is below the required aal: a second factor is \
                 needed",
            )
            .into_response(),
            Ok(_) => allowed(p),
        },
        Some(Credential::Invalid { bearer: true }) => denied(&state, &parts, mode, true),
        _ => denied(&state, &parts, mode, false),
    }
}

/// The roles, scopes and assurance level a check's query requires.
#[derive(Debug, Default, PartialEq, Eq)]
struct Required {
    roles: Vec<String>,
    scopes: Vec<String>,
    /// The lowest Authenticator Assurance Level accepted (0: any).
    aal: u8,
}

impl Required {
    fn of(uri: &axum::http::Uri) -> Result<Self, ApiError> {
        let mut required = Self::default();
        for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            match &*name {
                "aal" => {
                    required.aal = match &*value {
                        "1" => required.aal.max(1),
                        "2" => 2,
                        _ => return Err(ApiError::InvalidRequest("`aal` must be 1 or 2".into())),
                    };
                }
                "role" => required.roles.push(value.into_owned()),
                "scope" => required.scopes.extend(
                    value
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        Ok(required)
    }

    fn authz_met_by(&self, p: &Principal) -> bool {
        self.roles.iter().all(|r| p.roles.contains(r))
            && self
                .scopes
                .iter()
                .all(|s| p.scope.as_ref().is_some_and(|granted| granted.contains(s)))
    }
}

/// The body of an allowed check, serialised straight from the principal: no intermediate
/// `serde_json::Value` tree (every check pays for this).
#[derive(Serialize)]
struct AllowedBody<'a> {
    user_id: UserId,
    session_id: SessionId,
    method: &'static str,
    expires_at: String,
    roles: &'a Roles,
    scope: Option<&'a Scope>,
    claims: &'a CustomClaims,
    amr: Vec<&'static str>,
    aal: u8,
}

fn allowed(p: &Arc<Principal>) -> Response {
    let body = Json(AllowedBody {
        user_id: p.user_id,
        session_id: p.session_id,
        method: p.method.as_str(),
        expires_at: rfc3339(p.expires_at),
        roles: &p.roles,
        scope: p.scope.as_ref(),
        claims: &p.claims,
        amr: p.amr.claim(),
        aal: p.amr.aal(),
    });
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert("x-auth-user", uuid_header(p.user_id.0));
    headers.insert("x-auth-session", uuid_header(p.session_id.0));
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
    // Always present too (empty when there are none). Role names and scope tokens are
    // validated ASCII, so the values are valid header text.
    let roles = p.roles.as_slice().join(",");
    let listed = |text: &str| HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""));
    headers.insert("x-auth-roles", listed(&roles));
    let scope = p.scope.as_ref().map(ToString::to_string);
    headers.insert("x-auth-scope", listed(scope.as_deref().unwrap_or("")));
    headers.insert("x-auth-aal", HeaderValue::from(u16::from(p.amr.aal())));
    headers.insert("x-auth-amr", listed(&p.amr.claim().join(",")));
    response
}

/// A UUID as header text, formatted on the stack.
fn uuid_header(id: uuid::Uuid) -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).expect("a UUID is ASCII")
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
    fn requirements_come_from_repeated_parameters() {
        let uri: axum::http::Uri =
            "/v1/check?mode=nginx&role=admin&role=ops&scope=read%20write&scope=x"
                .parse()
                .unwrap();
        assert_eq!(
            Required::of(&uri).unwrap(),
            Required {
                roles: vec!["admin".into(), "ops".into()],
                scopes: vec!["read".into(), "write".into(), "x".into()],
                aal: 0,
            }
        );
        assert_eq!(
            Required::of(&"/v1/check".parse().unwrap()).unwrap(),
            Required::default()
        );
        assert_eq!(
            Required::of(&"/v1/check?aal=2&aal=1".parse().unwrap())
                .unwrap()
                .aal,
            2
        );
        assert!(Required::of(&"/v1/check?aal=3".parse().unwrap()).is_err());
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
