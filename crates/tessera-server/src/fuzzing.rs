//! Entry points for the cargo-fuzz targets in `fuzz/` (outside the workspace). Each is the real
//! parsing code of a request path, reachable without a running server; nothing here is API.

use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract;

/// What `Input<T>` does with a body once it has been read: pick the format from
/// `Content-Type`, then parse.
pub fn parse_input<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    extract::parse_body(headers, body)
}

/// `Authorization: Basic` client credentials of the token endpoints.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    crate::routes::token::basic_credentials(headers)
}

/// The issue time of a login-CSRF cookie value, `None` when it is not one the server made.
pub fn login_csrf_issued_at(value: &str) -> Option<i64> {
    crate::routes::pages::form_csrf::issued_at(value)
}

/// Whether a login-CSRF cookie issued at `issued` is still accepted at `now`.
pub fn login_csrf_fresh(now: i64, issued: i64) -> bool {
    crate::routes::pages::form_csrf::age_ok(now, issued, crate::routes::pages::form_csrf::TTL)
}

/// The request body types the API parses with `Input<T>`, and the page forms.
pub mod bodies {
    pub use crate::routes::admin::{NewClient, PatchUser};
    pub use crate::routes::pages::account::PasswordForm;
    pub use crate::routes::pages::CredentialsForm;
    pub use crate::routes::session::{ChangePassword, LoginRequest};
    pub use crate::routes::token::{TokenParam, TokenRequest};
    pub use crate::routes::users::CreateUser;
}

/// What `PageForm<T>` does with a form body once it has been read; `None` is its 400 page.
pub fn parse_page_form<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    crate::routes::pages::parse_page_form(body).ok()
}
