//! Server-rendered browser pages: sign-in, sign-up, the account page and sign-out.
//!
//! No JavaScript; every form is a plain POST that answers with a page or a 303. The pages that
//! act on a signed-in user sit behind the same `resolve_credentials` + `csrf::enforce` layers as
//! `/v1`, so their forms carry the session's CSRF token in a `csrf_token` field (the layer reads
//! it from the form body) and must not come from another origin. Sign-in and sign-up have no
//! session yet and use the pre-session token of [`form_csrf`] instead.

pub mod account;
pub mod account_factors;
pub mod account_passkeys;
pub mod email;
pub mod form_csrf;
pub mod html;
pub mod login;
pub mod login_mfa;
pub mod return_to;
pub mod signup;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    // Authenticated by the password in the form, not by a cookie: no session CSRF layer.
    let public = Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/login/mfa", post(login_mfa::submit))
        .route("/passkeys.js", get(account_passkeys::script))
        .route("/signup", get(signup::form).post(signup::submit))
        .route(
            "/forgot",
            get(email::forgot_form).post(email::forgot_submit),
        )
        .route("/reset", get(email::reset_form).post(email::reset_submit))
        .route(
            "/verify",
            get(email::verify_form).post(email::verify_submit),
        );
    let signed_in = Router::new()
        .route("/account", get(account::show))
        .route("/account/sessions/{id}/revoke", post(account::revoke_one))
        .route(
            "/account/sessions/revoke-others",
            post(account::revoke_others),
        )
        .route("/account/password", post(account::change_password))
        .route("/account/totp", post(account_factors::start))
        .route("/account/totp/confirm", post(account_factors::confirm))
        .route("/account/totp/remove", post(account_factors::remove))
        .route("/account/recovery-codes", post(account_factors::regenerate))
        .route("/account/step-up", post(account_factors::step_up))
        .route(
            "/account/passkeys/{id}/rename",
            post(account_passkeys::rename),
        )
        .route(
            "/account/passkeys/{id}/delete",
            post(account_passkeys::delete),
        )
        .route("/account/email", post(email::change_email))
        .route("/logout", get(account::logout_page).post(account::logout))
        // As for /v1: credentials are resolved first, then the CSRF rule is applied.
        .layer(from_fn_with_state(state.clone(), crate::csrf::enforce))
        .layer(from_fn_with_state(
            state.clone(),
            crate::auth::resolve_credentials,
        ));
    Router::new()
        .merge(public)
        .merge(signed_in)
        .layer(map_response(html_errors))
}

/// `Content-Security-Policy` of pages with forms. Forms post only to this server; a successful
/// sign-in may redirect to an allow-listed origin, and browsers check redirects after a form
/// submission against `form-action`, so those origins are listed too.
fn form_csp(state: &AppState) -> HeaderValue {
    let mut policy = String::from(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; \
             connect-src 'self'; form-action 'self'",
    );
    for origin in &state.web.config.server.allowed_return_origins {
        if let Some(origin) = crate::config::public_origin(origin) {
            // Validated origins; the character check keeps the header unbreakable regardless.
            if origin
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b))
            {
                policy.push(' ');
                policy.push_str(&origin);
            }
        }
    }
    policy.push_str("; frame-ancestors 'none'; base-uri 'none'");
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(STATIC_CSP))
}

const STATIC_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; \
                          connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                          base-uri 'none'";

/// A complete HTML response: the document, `no-store`, the page CSP and `Referrer-Policy:
/// same-origin`. `X-Frame-Options` and `X-Content-Type-Options` come from the router.
fn html_response(status: StatusCode, csp: HeaderValue, title: &str, body: &str) -> Response {
    let mut response = (status, html::document(title, body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    // Same origin only: form POSTs then carry the real `Origin` for the CSRF check, and no URL
    // of this server leaks to other sites.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A page with forms.
pub fn page(state: &AppState, status: StatusCode, title: &str, body: &str) -> Response {
    html_response(status, form_csp(state), title, body)
}

/// `303 See Other` to `location`, which must be a path or an already-validated URL.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => PageError::status(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
    }
}

/// A request the page cannot serve, shown as a short HTML page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: &'static str,
    retry_after: Option<u64>,
}

impl PageError {
    pub const FORBIDDEN: Self = Self {
        status: StatusCode::FORBIDDEN,
        message: "This form could not be verified. Go back, reload the page and try again.",
        retry_after: None,
    };

    pub const NOT_FOUND: Self = Self {
        status: StatusCode::NOT_FOUND,
        message: "There is no page here.",
        retry_after: None,
    };

    fn status(status: StatusCode) -> Self {
        let message = match status.as_u16() {
            400 => "The request was not understood.",
            401 => "Please sign in.",
            403 => Self::FORBIDDEN.message,
            404 => Self::NOT_FOUND.message,
            405 => "This page does not accept that kind of request.",
            413 => "The form is too large.",
            415 => "The form was not sent as a web form.",
            429 => "Too many attempts. Wait a little and try again.",
            503 => "The service is temporarily unavailable. Try again shortly.",
            _ => "Something went wrong on our side. Try again shortly.",
        };
        Self {
            status,
            message,
            retry_after: None,
        }
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        err.log();
        Self {
            retry_after: err.retry_after(),
            ..Self::status(err.status_and_code().0)
        }
    }
}

impl From<tessera_engine::EngineError> for PageError {
    fn from(err: tessera_engine::EngineError) -> Self {
        ApiError::from(err).into()
    }
}

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<h1>{}</h1>\n{}<p><a href=\"/account\">Your account</a> · <a href=\"/login\">Sign in</a></p>\n",
            html::esc(title),
            html::message("error", Some(self.message)),
        );
        let mut response = html_response(
            self.status,
            HeaderValue::from_static(STATIC_CSP),
            title,
            &body,
        );
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// The layers in front of the handlers (credential resolution, CSRF, body limit) answer with the
/// API's JSON errors; on the pages they become HTML error pages with the same status.
async fn html_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let mut page = PageError::status(response.status());
    page.retry_after = retry_after(response.headers());
    page.into_response()
}

/// The signed-in browser user, if any: a valid credential that came in a cookie. Anything else
/// (no credential, a dead one, an `Authorization` header) reads as signed out.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<Arc<Principal>>);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(match parts.extensions.get::<Credential>() {
            Some(Credential::Valid(p)) if p.via_cookie => Some(p.clone()),
            _ => None,
        }))
    }
}

/// An `application/x-www-form-urlencoded` body. Missing fields take their defaults (the handlers
/// treat an empty value like a wrong one); anything unreadable is an HTML error page.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(PageError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                PageError::status(StatusCode::BAD_REQUEST)
            }
        })?;
        parse_page_form(&bytes).map(PageForm)
    }
}

/// A page form body; any malformed one is a plain 400 page.
pub(crate) fn parse_page_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(bytes).map_err(|_| PageError::status(StatusCode::BAD_REQUEST))
}

/// The first value of `name` in a raw query string.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `return_to` if it is safe to carry in a form, else nothing.
pub fn kept_return_to(state: &AppState, raw: Option<&str>) -> Option<String> {
    raw.and_then(|r| {
        return_to::safe(
            r,
            &state.web.public_origin,
            &state.web.config.server.allowed_return_origins,
        )
    })
    .map(str::to_owned)
}

/// Adds the `Set-Cookie` headers in `cookies` to `response`.
pub fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Whether the request carries provenance headers naming another origin.
pub fn cross_origin(state: &AppState, headers: &HeaderMap) -> bool {
    crate::csrf::is_cross_origin(headers, &state.web.public_origin)
}

/// The fields the login and sign-up forms post. `Debug` leaves the password out.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct CredentialsForm {
    pub email: String,
    pub password: String,
    pub csrf_token: Option<String>,
    pub return_to: Option<String>,
}

impl std::fmt::Debug for CredentialsForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsForm")
            .field("email", &self.email)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}
