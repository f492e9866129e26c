//! The axum extractor: `async fn handler(principal: Principal)`.
//!
//! Behind a [`crate::GuardLayer`] it takes the principal the layer verified. Without the layer,
//! it verifies the request itself with a [`Guard`] found in the request extensions (add one with
//! `axum::Extension(guard)`), so a router may guard only some routes.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::error::GuardError;
use crate::guard::Guard;
use crate::principal::Principal;

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let Some(guard) = parts.extensions.get::<Guard>().cloned() else {
            tracing::error!("Principal extracted without a GuardLayer or an Extension(Guard)");
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        let principal = guard
            .verify_request(&parts.method, &parts.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

impl IntoResponse for GuardError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}
