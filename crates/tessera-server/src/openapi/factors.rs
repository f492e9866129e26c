//! Schema-only mirrors of the second-factor bodies (`/v1/factors…`, `/v1/session/mfa`,
//! `/v1/session/step-up`, the `mfa_required` answer of the login paths). Checked against the
//! wire as the rest of [`super::schemas`] is.
#![allow(dead_code)]

use serde_json::json;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::schemas::Transport;

/// The password step of a login for an account with a second factor: no session yet, only a
/// short-lived single-use `mfa_token` for `POST /v1/session/mfa` (or the `mfa-otp` grant).
/// `POST /v1/session` answers it with 401, the password grant with 400.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"error": "mfa_required", "error_description": "a second factor is required", "mfa_required": true, "mfa_token": "tsm_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "methods": ["totp", "recovery_code"], "expires_at": "2026-12-01T12:05:00Z"}))]
pub struct MfaRequired {
    /// `mfa_required`
    pub error: String,
    pub error_description: String,
    pub mfa_required: bool,
    /// `tsm_…`
    pub mfa_token: String,
    /// The factors that can complete the login: `totp`, `recovery_code`.
    pub methods: Vec<String>,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A second factor: exactly one of a TOTP `code` (six digits; `otp` is accepted as its other
/// name) and a `recovery_code` (`xxxx-xxxx-xxxx-xxxx`).
#[derive(Debug)]
pub struct Proof;

impl utoipa::PartialSchema for Proof {
    fn schema() -> RefOr<Schema> {
        exactly_one_proof(proof_fields(ObjectBuilder::new()).examples([json!({"code": "123456"})]))
    }
}

impl ToSchema for Proof {}

/// The second step of `POST /v1/session`: the `mfa_token` of the `mfa_required` answer, exactly
/// one proof as in [`Proof`], and the transport as in `POST /v1/session`.
#[derive(Debug)]
pub struct CompleteLogin;

impl utoipa::PartialSchema for CompleteLogin {
    fn schema() -> RefOr<Schema> {
        let fields = ObjectBuilder::new()
            .property(
                "mfa_token",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("`tsm_…` from the `mfa_required` answer")),
            )
            .required("mfa_token")
            .property("transport", Transport::schema());
        exactly_one_proof(proof_fields(fields).examples([json!({
            "mfa_token": "tsm_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "code": "123456",
            "transport": "body"
        })]))
    }
}

impl ToSchema for CompleteLogin {}

fn proof_fields(object: ObjectBuilder) -> ObjectBuilder {
    let text = |about: &'static str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(about))
    };
    object
        .property("code", text("Six digits from the authenticator app"))
        .property("recovery_code", text("One of the recovery codes"))
}

/// `allOf` the fields and a `oneOf` that needs `code` or `recovery_code`, not both: the
/// server refuses a body with both or neither.
fn exactly_one_proof(fields: ObjectBuilder) -> RefOr<Schema> {
    let needs = |field: &str| ObjectBuilder::new().required(field);
    AllOfBuilder::new()
        .item(fields)
        .item(
            OneOfBuilder::new()
                .item(needs("code"))
                .item(needs("recovery_code")),
        )
        .into()
}

#[derive(Debug, ToSchema)]
pub struct TotpState {
    /// Whether the first code confirmed it (only then does login ask for it).
    pub enabled: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub confirmed_at: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct RecoveryCodesLeft {
    pub remaining: u32,
}

#[derive(Debug, ToSchema)]
pub struct FactorList {
    /// Whether a login needs a second factor.
    pub mfa_enabled: bool,
    pub totp: Option<TotpState>,
    pub recovery_codes: RecoveryCodesLeft,
}

/// A TOTP secret to put in an authenticator app; not active until confirmed with a code.
#[derive(Debug, ToSchema)]
pub struct TotpEnrolment {
    /// Base32.
    pub secret: String,
    /// `otpauth://totp/…`
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
pub struct ConfirmTotp {
    pub code: String,
}

/// Shown once; stored only as hashes.
#[derive(Debug, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// A refused password step: the usual error, or `mfa_required` with the token for the second
/// step. `anyOf`, since an `mfa_required` body is also a valid error body.
#[derive(Debug)]
pub struct PasswordStepRefused;

impl utoipa::PartialSchema for PasswordStepRefused {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("Error"))
            .item(Ref::from_schema_name("MfaRequired"))
            .into()
    }
}

impl ToSchema for PasswordStepRefused {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("MfaRequired".to_owned(), MfaRequired::schema()));
    }
}
