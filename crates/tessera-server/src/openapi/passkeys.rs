//! Schemas of the passkey endpoints. The WebAuthn options and credentials are the JSON forms of
//! the W3C WebAuthn Level 3 dictionaries (`PublicKeyCredentialCreationOptionsJSON`, …), passed
//! to and from `navigator.credentials` as they are: described as objects, not re-specified.

use utoipa::ToSchema;

use super::schemas::Transport;

#[derive(Debug, ToSchema)]
pub struct Passkey {
    #[schema(format = "uuid")]
    pub id: String,
    /// The WebAuthn credential id, base64url without padding.
    pub credential_id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<Passkey>,
}

/// A started ceremony: send `ceremony_id` back with the finish, pass `options` to
/// `navigator.credentials.create()` / `.get()` (`publicKey`, and `mediation` for a sign-in).
#[derive(Debug, ToSchema)]
pub struct CeremonyStarted {
    #[schema(format = "uuid")]
    pub ceremony_id: String,
    pub options: Object,
}

/// A JSON object as WebAuthn defines it.
#[derive(Debug, ToSchema)]
#[schema(as = WebauthnObject)]
pub struct Object {}

#[derive(Debug, ToSchema)]
pub struct RegisterPasskey {
    #[schema(format = "uuid")]
    pub ceremony_id: String,
    /// 1 to 64 characters; default `Passkey`.
    pub name: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    pub credential: Object,
}

#[derive(Debug, ToSchema)]
pub struct RenamePasskey {
    /// 1 to 64 characters.
    pub name: String,
}

#[derive(Debug, ToSchema)]
pub struct PasskeyLogin {
    #[schema(format = "uuid")]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON.
    pub credential: Object,
    pub transport: Option<Transport>,
}

#[derive(Debug, ToSchema)]
pub struct PendingStep {
    /// The `tsm_…` token of the first login step's 401.
    pub mfa_token: String,
}
