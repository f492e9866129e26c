//! `GET /v1/check`: one answer for every credential, for reverse proxies and foreign services.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::Authenticated;
use crate::routes::views::rfc3339;

pub async fn check(Authenticated(p): Authenticated) -> Response {
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
    response
}
