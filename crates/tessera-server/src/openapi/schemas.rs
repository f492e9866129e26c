//! Schema-only mirrors of the JSON the handlers read and write, for the OpenAPI document.
//!
//! Handlers build some bodies with `json!` and the engine's types carry no schema, so these
//! structs exist only to be described. They cannot silently drift from the wire: schemathesis
//! (`scripts/schemathesis.sh`) checks every response against them, and the API tests read the
//! same fields.
#![allow(dead_code)]

use serde_json::json;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Every error: `error` is a fixed code, `error_description` human text that never echoes a
/// submitted value.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"error": "invalid_request", "error_description": "missing field `email`"}))]
pub struct Error {
    /// `invalid_request`, `invalid_grant`, `invalid_client`, `unsupported_grant_type`,
    /// `invalid_scope`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `method_not_allowed`, `payload_too_large`, `unsupported_media_type`, `rate_limited`,
    /// `unavailable` or `server_error`.
    pub error: String,
    pub error_description: String,
}

// ---- accounts -------------------------------------------------------------------------------

#[derive(Debug, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
pub struct SignUp {
    /// Trimmed, NFC-normalised and lower-cased; at most 254 bytes.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// `password.min_length` (default 8) to 128 characters, not one character repeated, not a
    /// common password, not the address.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"id": "0193e0a4-7b1c-7d2e-9f00-1a2b3c4d5e6f", "email": "ada@example.com", "created_at": "2026-11-25T12:55:23.486Z"}))]
pub struct User {
    pub id: String,
    pub email: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// The answer to every request that names an address: it reveals nothing about the account.
#[derive(Debug, ToSchema)]
pub struct Accepted {
    #[schema(inline)]
    pub status: AcceptedStatus,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AcceptedStatus {
    Accepted,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "staple battery horse"}))]
pub struct ChangePassword {
    pub current_password: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// A header caller's successor after a password change: a new session token, or new tokens
/// for an access-token caller.
#[derive(Debug)]
pub struct PasswordChanged;

impl utoipa::PartialSchema for PasswordChanged {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name("RotatedSession"))
            .item(Ref::from_schema_name("TokenResponse"))
            .into()
    }
}

impl ToSchema for PasswordChanged {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            ("RotatedSession", RotatedSession::schema()),
            ("TokenResponse", TokenResponse::schema()),
        ] {
            schemas.push((name.to_owned(), schema));
        }
        RotatedSession::schemas(schemas);
    }
}

#[derive(Debug, ToSchema)]
pub struct RotatedSession {
    pub session: Session,
    /// `tss_…`, the new session secret.
    pub session_token: String,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct AddressRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Debug, ToSchema)]
pub struct ResetConfirm {
    /// The token of the reset link.
    pub token: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

#[derive(Debug, ToSchema)]
pub struct LinkToken {
    /// The token of a verification or change-of-address link.
    pub token: String,
}

#[derive(Debug, ToSchema)]
pub struct Verified {
    #[schema(inline)]
    pub result: VerifiedResult,
    pub email: String,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum VerifiedResult {
    Verified,
    EmailChanged,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"new_email": "ada@new.example", "current_password": "correct horse battery"}))]
pub struct EmailChange {
    #[schema(format = Email, max_length = 254)]
    pub new_email: String,
    pub current_password: String,
}

// ---- sessions -------------------------------------------------------------------------------

#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Transport {
    Cookie,
    Body,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery", "transport": "body"}))]
pub struct Login {
    pub email: String,
    pub password: String,
    /// `cookie` (default): the session secret is set as the session cookie; `body`: it is
    /// returned as `session_token`.
    #[schema(inline, required = false)]
    pub transport: Transport,
}

#[derive(Debug, ToSchema)]
pub struct LoginResponse {
    pub session: Session,
    pub csrf_token: String,
    /// `tss_…`; only with `transport = body`.
    pub session_token: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SessionKind {
    Cookie,
    Header,
    Token,
}

/// A live session. `id` is a public identifier, never the secret.
#[derive(Debug, ToSchema)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    #[schema(format = DateTime)]
    pub idle_expires_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(inline)]
    pub kind: SessionKind,
    /// Whether this is the session making the request.
    pub current: bool,
    /// What a token session was granted (space-separated); null for other sessions.
    pub scope: Option<String>,
    /// How the session was authenticated (RFC 8176): `["pwd"]`, `["pwd", "otp", "mfa"]`, …
    pub amr: Vec<String>,
    /// Authenticator Assurance Level reached: 1 (password only) or 2 (with a second factor).
    #[schema(minimum = 1, maximum = 2)]
    pub aal: u8,
}

#[derive(Debug, ToSchema)]
pub struct SessionUser {
    pub id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub claims: CustomClaims,
}

#[derive(Debug, ToSchema)]
pub struct CurrentSession {
    pub session: Session,
    pub user: SessionUser,
    /// The scope an access token carries; null for session secrets.
    pub scope: Option<String>,
    pub csrf_token: String,
}

#[derive(Debug, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

// ---- tokens ---------------------------------------------------------------------------------

#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GrantType {
    Password,
    RefreshToken,
    /// Completes a password grant that answered `mfa_required`.
    #[schema(rename = "urn:tessera:params:oauth:grant-type:mfa-otp")]
    MfaOtp,
}

/// RFC 6749 token request. The password grant needs `username` (or `email`) and `password`;
/// the refresh grant `refresh_token` (or the refresh cookie); the `mfa-otp` grant `mfa_token`
/// and `otp` or `recovery_code`.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"grant_type": "password", "username": "ada@example.com", "password": "correct horse battery"}))]
pub struct TokenRequest {
    #[schema(inline)]
    pub grant_type: GrantType,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `tsr_…`
    pub refresh_token: Option<String>,
    /// `mfa-otp` grant: the `mfa_token` of the `mfa_required` answer, and `otp` (a TOTP code)
    /// or `recovery_code`.
    pub mfa_token: Option<String>,
    pub otp: Option<String>,
    pub recovery_code: Option<String>,
    /// Space-separated scope tokens from `scopes.known`.
    pub scope: Option<String>,
    /// At most 100 printable ASCII characters; default `first-party`.
    pub client_id: Option<String>,
    /// `body` (default) or `cookie`.
    #[schema(inline)]
    pub transport: Option<Transport>,
    /// For a refresh by cookie: the CSRF token (or the `X-CSRF-Token` header).
    pub csrf_token: Option<String>,
}

/// RFC 6749 §5.1. In cookie transport the tokens are cookies and the body carries
/// `csrf_token` instead.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9.e30.sig", "token_type": "Bearer", "expires_in": 300, "refresh_token": "tsr_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))]
pub struct TokenResponse {
    pub access_token: Option<String>,
    #[schema(inline)]
    pub token_type: TokenType,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub csrf_token: Option<String>,
}

#[derive(Debug, ToSchema)]
pub enum TokenType {
    Bearer,
}

/// RFC 7009 / RFC 7662 request.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"token": "tsr_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))]
pub struct TokenParam {
    pub token: String,
    /// Accepted and ignored: a token's prefix says what it is.
    pub token_type_hint: Option<String>,
}

/// An empty JSON object.
#[derive(Debug, ToSchema)]
pub struct Empty {}

/// RFC 7662: `{"active": false}`, or the token's claims when it is usable now. The user's
/// custom claims appear as extra members.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"active": true, "token_type": "access_token", "sub": "0193e0a4-7b1c-7d2e-9f00-1a2b3c4d5e6f", "sid": "0193e0a4-0000-7000-8000-000000000001", "exp": 1_764_600_000, "iat": 1_764_599_700, "iss": "https://auth.example.com", "aud": "tessera", "jti": "…", "client_id": "first-party"}))]
pub struct Introspection {
    pub active: bool,
    pub token_type: Option<String>,
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub jti: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub roles: Option<Vec<String>>,
    /// The session's authentication methods (RFC 8176).
    pub amr: Option<Vec<String>>,
    /// `urn:tessera:aal1` or `urn:tessera:aal2`.
    pub acr: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct Revocation {
    /// The session id (the `sid` claim of its access tokens).
    pub sid: String,
    #[schema(format = DateTime)]
    pub revoked_at: String,
    /// When the last access token of that session expires.
    #[schema(format = DateTime)]
    pub until: String,
}

#[derive(Debug, ToSchema)]
pub struct RevocationList {
    pub revoked: Vec<Revocation>,
    /// Opaque; pass as `?after=` to the next poll.
    pub cursor: String,
}

// ---- check ----------------------------------------------------------------------------------

#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CheckMethod {
    Cookie,
    SessionToken,
    AccessToken,
}

#[derive(Debug, ToSchema)]
pub struct CheckResult {
    pub user_id: String,
    pub session_id: String,
    #[schema(inline)]
    pub method: CheckMethod,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub roles: Vec<String>,
    pub scope: Option<String>,
    pub claims: CustomClaims,
    /// The session's authentication methods (RFC 8176).
    pub amr: Vec<String>,
    #[schema(minimum = 1, maximum = 2)]
    pub aal: u8,
}

// ---- admin ----------------------------------------------------------------------------------

#[derive(Debug, ToSchema)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub locked: bool,
    pub email_verified: bool,
    #[schema(format = DateTime)]
    pub email_verified_at: Option<String>,
    pub roles: Vec<String>,
    pub claims: CustomClaims,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, ToSchema)]
pub struct AdminUserList {
    /// Zero or one entries.
    pub users: Vec<AdminUser>,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"locked": true}))]
pub struct PatchUser {
    /// Locking revokes every session of the user.
    pub locked: bool,
}

#[derive(Debug, ToSchema)]
pub struct Event {
    pub id: i64,
    /// `login_succeeded`, `login_failed`, `logout`, `session_revoked`, …
    #[schema(rename = "type")]
    pub kind: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

#[derive(Debug, ToSchema)]
pub struct EventList {
    /// Newest first.
    pub events: Vec<Event>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<i64>,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "orders-service"}))]
pub struct NewClient {
    /// 1 to 100 characters after trimming, no control characters.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
}

#[derive(Debug, ToSchema)]
pub struct CreatedClient {
    pub client_id: String,
    /// Shown once.
    pub client_secret: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, ToSchema)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, ToSchema)]
pub struct ClientList {
    pub clients: Vec<Client>,
}

/// A user holds at most 32 distinct roles (repeats in a request count once), so a request that
/// would leave more is 400.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"roles": ["admin", "billing:read"]}))]
pub struct Roles {
    pub roles: Vec<RoleName>,
}

/// 1–64 characters of `A–Z a–z 0–9 _ . : -`.
#[derive(Debug, ToSchema)]
#[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
pub struct RoleName(pub String);

/// The proxy a forward-auth check answers for.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum CheckMode {
    Nginx,
    IngressNginx,
    Traefik,
    Caddy,
    Envoy,
}

/// The only scope of `DELETE /v1/sessions`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OthersScope {
    Others,
}

/// A user's custom claims: a JSON object of at most 1,024 bytes of compact JSON, whose names
/// are 1–128 visible ASCII characters (no `"` or `\\`) and none of the registered ones.
/// (`propertyNames` is added from `tessera_core::authz::RESERVED_CLAIMS` when the document is
/// rendered.)
#[derive(Debug)]
pub struct CustomClaims;

impl PartialSchema for CustomClaims {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Custom claims: a JSON object of at most 1,024 bytes (compact JSON); names are \
                 1–128 visible ASCII characters without `\"` or `\\` and not a registered claim",
            ))
            .examples([json!({"tenant": "acme"})])
            .into()
    }
}

impl ToSchema for CustomClaims {}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"claims": {"tenant": "acme"}}))]
pub struct Claims {
    pub claims: CustomClaims,
}

// ---- operations and discovery ---------------------------------------------------------------

#[derive(Debug, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, ToSchema)]
pub struct Readiness {
    /// `ready`, or `degraded` when the revocation feed is down (the store answers).
    pub status: String,
    #[schema(value_type = Object)]
    pub checks: Value,
}

#[derive(Debug, ToSchema)]
pub struct Unready {
    pub error: String,
    pub error_description: String,
    #[schema(value_type = Object)]
    pub checks: Value,
}

/// RFC 7517 key set: the public keys in state next, current and retired.
#[derive(Debug, ToSchema)]
pub struct Jwks {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Value>,
}

/// RFC 8414 authorization-server metadata.
#[derive(Debug, ToSchema)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub jwks_uri: String,
    pub grant_types_supported: Vec<String>,
    pub access_token_signing_alg_values_supported: Vec<String>,
}
