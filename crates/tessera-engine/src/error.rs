//! The one error every use case returns. It says what went wrong in domain terms; the server
//! decides what that is on the wire (a JSON error body for the API, a page for the forms).

use tessera_core::{StoreError, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input is malformed or breaks a rule (password policy, name length, …). The text is
    /// safe to show: it never echoes the submitted value.
    #[error("{0}")]
    Invalid(String),
    /// Wrong credentials at login, or a refresh token that cannot be used. One answer for every
    /// cause, so a caller learns nothing about which.
    #[error("invalid credentials")]
    InvalidGrant,
    /// A requested scope is unknown, not allowed to the client, or wider than what was granted
    /// (RFC 6749 §5.2 `invalid_scope`).
    #[error("the requested scope is invalid, unknown, or exceeds what may be granted")]
    InvalidScope,
    /// A client's id and secret do not match.
    #[error("client authentication failed")]
    InvalidClient,
    /// The operation needs an authenticated caller, and there is none (or it just ended).
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The password was right, and the account has a second factor: only the pending second
    /// step is handed out (see [`crate::factors::challenge`]).
    #[error("a second factor is required to complete this login")]
    SecondFactorRequired(Box<crate::factors::challenge::Challenge>),
    /// A sensitive action needs a second factor proven on this session within
    /// `mfa.step_up_window`.
    #[error("this action needs a recent second factor: step up first")]
    StepUpRequired,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many attempts; retry later")]
    RateLimited { retry_after_secs: u64 },
    /// A dependency (store, hashing pool, stream slots) cannot serve now; retrying later may work.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Option<Box<dyn std::error::Error + Send + Sync>>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type EngineResult<T> = Result<T, EngineError>;

impl EngineError {
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    /// The answer to an attempt a throttle refused.
    pub fn rate_limited(wait: time::Duration) -> Self {
        Self::RateLimited {
            retry_after_secs: wait.whole_seconds().max(1) as u64,
        }
    }
}

impl From<ValidationError> for EngineError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Unavailable(source) => Self::Unavailable(Some(source)),
            corrupt @ StoreError::Corrupt(_) => Self::internal(corrupt),
        }
    }
}

/// The full `source()` chain, for the one log line an error gets.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}
