//! Errors of this crate. None of them carries key material or token text, so every message may
//! be logged; key ids are public and do appear.

/// Loading, creating or using signing keys went wrong. These are operator or programming errors,
/// never a client's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported signing algorithm {0:?} (expected EdDSA, ES256, RS256 or HS256)")]
    UnsupportedAlgorithm(String),
    #[error("keys.encryption_key must be 32 bytes, base64 encoded")]
    InvalidEncryptionKey,
    #[error("signing key {kid} is encrypted but no keys.encryption_key is configured")]
    EncryptionKeyMissing { kid: String },
    #[error(
        "signing key {kid} cannot be decrypted: wrong keys.encryption_key or corrupted record"
    )]
    Decrypt { kid: String },
    #[error("signing key {kid} has unknown format version {version}")]
    UnknownFormat { kid: String, version: i32 },
    #[error("signing key {kid} is invalid: {reason}")]
    InvalidKey { kid: String, reason: &'static str },
    #[error("signing key id {kid} appears more than once")]
    DuplicateKid { kid: String },
    #[error("there is no current signing key")]
    NoCurrentKey,
    #[error("this key ring can only verify: it holds no private signing key")]
    NoSigningKey,
    #[error("invalid JWKS document: {0}")]
    InvalidJwks(&'static str),
    #[error("signing failed")]
    Sign,
}

impl KeyError {
    pub(crate) fn invalid(kid: &str, reason: &'static str) -> Self {
        Self::InvalidKey {
            kid: kid.to_owned(),
            reason,
        }
    }
}

/// Why an access token was refused. Servers map every variant to the same 401
/// `invalid_token`; the variants exist for logs, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum VerifyError {
    #[error("token is larger than allowed")]
    TooLarge,
    /// Not three base64url segments of JSON, or claims of the wrong shape.
    #[error("token is malformed")]
    Malformed,
    #[error("token type is not at+jwt")]
    WrongType,
    #[error("token header carries critical extensions")]
    CriticalHeader,
    /// No `kid`, or a `kid` this ring does not hold.
    #[error("token is signed by an unknown key")]
    UnknownKey,
    /// The header `alg` is not the algorithm bound to the key named by `kid`.
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token lacks a required claim or has an ill-typed one")]
    InvalidClaims,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token belongs to a revoked session")]
    Revoked,
}

impl VerifyError {
    /// A stable snake_case name for metrics labels and audit details.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::WrongType => "wrong_type",
            Self::CriticalHeader => "critical_header",
            Self::UnknownKey => "unknown_key",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::BadSignature => "bad_signature",
            Self::InvalidClaims => "invalid_claims",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked => "revoked",
        }
    }
}

impl From<jsonwebtoken::errors::Error> for VerifyError {
    fn from(err: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match err.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::RsaFailedSigning
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::Signing(_)
            | ErrorKind::Provider(_) => Self::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => Self::AlgorithmMismatch,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            // The header has been parsed strictly before jsonwebtoken sees the token, so JSON
            // that fails here is the claims set.
            ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::InvalidSubject
            | ErrorKind::Json(_) => Self::InvalidClaims,
            _ => Self::Malformed,
        }
    }
}
