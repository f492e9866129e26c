//! Why a request was refused, and how that is said over HTTP (RFC 6750 §3).

use http::{header, HeaderValue, Response, StatusCode};
use tessera_token::{KeyError, VerifyError};

/// A refusal. Nothing here carries the credential, so every variant may be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// No Tessera credential in the request.
    #[error("no credential")]
    Missing,
    /// The credential is not valid: bad, expired, revoked, unknown to the server.
    #[error("invalid credential: {0}")]
    Invalid(&'static str),
    /// The guard cannot decide now: cut off from the revocation stream under
    /// [`crate::CutoffPolicy::Refuse`], or the server did not answer a check it needed.
    #[error("cannot verify now: {0}")]
    Unavailable(&'static str),
}

impl From<VerifyError> for GuardError {
    fn from(err: VerifyError) -> Self {
        Self::Invalid(err.as_str())
    }
}

impl GuardError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge: no error code when no credential was sent (RFC 6750
    /// §3.1), `invalid_token` otherwise. The reason stays in logs: it would help an attacker
    /// more than a client.
    pub fn challenge(&self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Missing => "Bearer realm=\"tessera\"",
            Self::Invalid(_) | Self::Unavailable(_) => {
                "Bearer realm=\"tessera\", error=\"invalid_token\""
            }
        })
    }

    /// The refusal as a response with an empty body, for any tower service whose body type has
    /// an empty value.
    pub fn to_response<B: Default>(&self) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::WWW_AUTHENTICATE, self.challenge());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::Unavailable(_) = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The guard could not start: the server is unreachable, or it is not the issuer configured.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no Tessera server answered at {0}: {1}")]
    Unreachable(String, String),
    #[error("the server's metadata is not usable: {0}")]
    Metadata(String),
    #[error("the server says its issuer is {found:?}, not {expected:?}")]
    WrongIssuer { expected: String, found: String },
    #[error("the server's JWKS is not usable: {0}")]
    Jwks(#[from] KeyError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_rfc_6750() {
        let response: Response<String> = GuardError::Invalid("revoked").to_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"tessera\", error=\"invalid_token\""
        );
        assert!(response.body().is_empty());
        let response: Response<String> = GuardError::Missing.to_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"tessera\""
        );
        let response: Response<String> = GuardError::Unavailable("cut off").to_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
