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

/// The `PublicKeyCredential` of `navigator.credentials.create()`/`.get()` as JSON (binary
/// fields base64url).
#[derive(Debug, ToSchema)]
pub struct Credential {
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    pub id: String,
    #[schema(rename = "rawId", pattern = "^[A-Za-z0-9_-]+$")]
    pub raw_id: String,
    #[schema(rename = "type")]
    pub kind: String,
    pub response: CredentialResponse,
}

/// `AuthenticatorAttestationResponse` (registration) or `AuthenticatorAssertionResponse`
/// (sign-in) as JSON.
#[derive(Debug, ToSchema)]
pub struct CredentialResponse {
    #[schema(rename = "clientDataJSON", pattern = "^[A-Za-z0-9_-]+$")]
    pub client_data_json: String,
    #[schema(rename = "attestationObject", pattern = "^[A-Za-z0-9_-]+$")]
    pub attestation_object: Option<String>,
    #[schema(rename = "authenticatorData", pattern = "^[A-Za-z0-9_-]+$")]
    pub authenticator_data: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    pub signature: Option<String>,
    #[schema(rename = "userHandle", pattern = "^[A-Za-z0-9_-]*$")]
    pub user_handle: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct RegisterPasskey {
    #[schema(format = "uuid")]
    pub ceremony_id: String,
    /// Default `Passkey`.
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    pub credential: Credential,
}

#[derive(Debug, ToSchema)]
pub struct RenamePasskey {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Debug, ToSchema)]
pub struct PasskeyLogin {
    #[schema(format = "uuid")]
    pub ceremony_id: String,
    pub credential: Credential,
    pub transport: Option<Transport>,
}

#[derive(Debug, ToSchema)]
pub struct PendingStep {
    /// The `tsm_…` token of the first login step's 401.
    pub mfa_token: String,
}
