//! The one error type handlers return, rendered as the JSON error body of API.md.
//!
//! Internal failures are logged here, once, with their whole cause chain; the client sees only a
//! generic message — never SQL, a stack trace or whether an account exists.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tessera_core::{StoreError, ValidationError};
use tessera_engine::factors::challenge::Challenge;
use tessera_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Wrong credentials at login or a bad grant. One message for every cause.
    #[error("invalid credentials")]
    InvalidGrant,
    /// A failed password login on the session endpoint: 401 with the `invalid_grant` code.
    #[error("invalid email or password")]
    BadCredentials,
    #[error("client authentication failed")]
    InvalidClient,
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    #[error("no scopes are defined on this server")]
    InvalidScope,
    /// No valid credential. `bearer` adds the RFC 6750 challenge.
    #[error("authentication required")]
    Unauthorized { bearer: bool },
    #[error("{0}")]
    Forbidden(&'static str),
    /// The password was right; the pending second step goes back with the error (400 at the
    /// token endpoint as RFC 6749 errors are, 401 at `POST /v1/session`).
    #[error("a second factor is required to complete this login")]
    SecondFactorRequired {
        challenge: Box<Challenge>,
        status: StatusCode,
    },
    #[error("this action needs a recent second factor: step up first")]
    StepUpRequired,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unsupported content type: {0}")]
    UnsupportedMediaType(&'static str),
    #[error("too many attempts; retry later")]
    RateLimited { retry_after_secs: u64 },
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Option<Box<dyn std::error::Error + Send + Sync>>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidGrant => (StatusCode::BAD_REQUEST, "invalid_grant"),
            Self::BadCredentials => (StatusCode::UNAUTHORIZED, "invalid_grant"),
            Self::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
            Self::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            Self::InvalidScope => (StatusCode::BAD_REQUEST, "invalid_scope"),
            Self::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::SecondFactorRequired { status, .. } => (*status, "mfa_required"),
            Self::StepUpRequired => (StatusCode::FORBIDDEN, "step_up_required"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        }
    }
}

/// Validation and store failures mean on the wire what they mean to the engine.
impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        EngineError::from(e).into()
    }
}

pub use tessera_engine::error::chain;

/// The engine's domain errors on the wire. `Unauthenticated` carries no RFC 6750 challenge:
/// handlers that know the credential came as a Bearer token say so themselves.
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(reason) => Self::InvalidRequest(reason),
            EngineError::InvalidGrant => Self::InvalidGrant,
            EngineError::InvalidClient => Self::InvalidClient,
            EngineError::InvalidScope => Self::InvalidScope,
            EngineError::Unauthenticated => Self::Unauthorized { bearer: false },
            EngineError::Forbidden(why) => Self::Forbidden(why),
            EngineError::SecondFactorRequired(challenge) => Self::SecondFactorRequired {
                challenge,
                status: StatusCode::BAD_REQUEST,
            },
            EngineError::StepUpRequired => Self::StepUpRequired,
            EngineError::NotFound => Self::NotFound,
            EngineError::Conflict(what) => Self::Conflict(what),
            EngineError::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            EngineError::Unavailable(source) => Self::Unavailable(source),
            EngineError::Internal(source) => Self::Internal(source),
        }
    }
}

impl ApiError {
    /// Logs an internal failure or an unavailable dependency, with its whole cause chain: the
    /// one log line an error gets, whether it is rendered as JSON or as a page.
    pub(crate) fn log(&self) {
        match self {
            Self::Internal(_) => tracing::error!(error = %chain(self), "request failed"),
            Self::Unavailable(Some(_)) => {
                tracing::warn!(error = %chain(self), "dependency unavailable");
            }
            _ => {}
        }
    }

    /// The `Retry-After` seconds of a refusal by a throttle.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        self.log();
        let mut body = json!({ "error": code, "error_description": self.to_string() });
        if let Self::SecondFactorRequired { challenge, .. } = &self {
            body["mfa_required"] = json!(true);
            body["mfa_token"] = json!(challenge.token.expose());
            body["methods"] = json!(challenge
                .methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>());
            body["expires_at"] = json!(crate::routes::views::rfc3339(challenge.expires_at));
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized { bearer: true } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\""),
                );
            }
            Self::RateLimited { .. } => {
                if let Some(secs) = self.retry_after() {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
