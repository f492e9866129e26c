//! The OpenAPI 3.1 document served at `GET /openapi.json`.
//!
//! Paths come from the router itself: every API route is registered through
//! `utoipa_axum::routes!` from its handler's `#[utoipa::path]`, so a route cannot exist without
//! its description (clippy's `disallowed-methods` refuses `OpenApiRouter::route`, which would
//! add one silently). This module holds what the handlers share: the schemas
//! ([`schemas`]), the error responses ([`responses`]), the security schemes, and the two
//! routes that cannot be registered that way (`/v1/check` answers any method; the document
//! itself).

pub mod factors;
pub mod passkeys;
pub mod responses;
pub mod schemas;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

use crate::cookies::CookieNames;

/// The operations the handlers' annotations cannot carry, and the document's frame.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "The HTTP API of the Tessera authentication server. Errors are \
            `{\"error\", \"error_description\"}` (see the `Error` schema); a method a path does not \
            serve is 405 `method_not_allowed`, a route that does not exist 404 `not_found`, an \
            unexpected failure 500 `server_error`. Every response carries \
            `Cache-Control: no-store` unless it says otherwise. Browser pages (`/login`, \
            `/account`, …) are not described here: see docs/api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(check_any, check_mode, document),
    // Parameter schemas are not collected from paths (utoipa 5); the handlers' are, by `routes!`.
    components(schemas(schemas::CheckMode, schemas::RoleName)),
    tags(
        (name = "accounts", description = "Sign-up, password and address changes, e-mail links"),
        (name = "sessions", description = "Session-based authentication"),
        (name = "passkeys", description = "WebAuthn passkeys: registration, passwordless sign-in, second factor"),
        (name = "tokens", description = "OAuth-style tokens (RFC 6749, 7009, 7662)"),
        (name = "check", description = "One check for every credential, for reverse proxies"),
        (name = "factors", description = "Second factors: TOTP, recovery codes, the second login step, step-up"),
        (name = "admin", description = "Administration: `Authorization: Bearer <admin.api_key>`"),
        (name = "operations", description = "Health, readiness, metrics, discovery"),
    )
)]
struct Frame;

/// The document's frame — info, tags, shared components, security schemes — before the
/// router adds its operations. Cookie names are this server's (`__Host-` prefixed only when
/// `cookie.secure`).
pub fn frame(cookies: &CookieNames) -> OpenApi {
    use utoipa::OpenApi as _;
    let mut doc = Frame::openapi();
    doc.info = InfoBuilder::from(doc.info)
        .version(env!("CARGO_PKG_VERSION"))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    responses::register(components);
    let cookie = |name: &str, what: &str| {
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(name, what)))
    };
    let schemes = [
        (
            "session_cookie",
            cookie(
                cookies.session,
                "The session cookie set by `POST /v1/session` (transport `cookie`). Unsafe \
                 methods also need `csrf_token`.",
            ),
        ),
        (
            "access_cookie",
            cookie(
                cookies.access,
                "The access-token cookie of `POST /v1/token` with `transport=cookie`. Unsafe \
                 methods also need `csrf_token`.",
            ),
        ),
        (
            "csrf_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The `csrf_token` of the session, required with a cookie credential on POST, \
                 PUT, PATCH and DELETE.",
            ))),
        ),
        (
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tss_… session token or JWT access token")
                    .description(Some(
                        "A session token (`tss_…`, login with `transport=body`) or an access \
                         token (a JWT from `POST /v1/token`).",
                    ))
                    .build(),
            ),
        ),
        (
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A registered client (resource server): `client_id:client_secret` from \
                         `POST /v1/admin/clients` or `tessera clients add`.",
                    ))
                    .build(),
            ),
        ),
        (
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("admin.api_key")
                    .description(Some(
                        "The configured `admin.api_key` (`tessera admin-key create`).",
                    ))
                    .build(),
            ),
        ),
    ];
    for (name, scheme) in schemes {
        components.add_security_scheme(name, scheme);
    }
    doc
}

/// The finished document as JSON, rendered once when the router is built.
#[derive(Debug, Clone)]
pub struct Document(std::sync::Arc<str>);

impl Document {
    pub fn new(doc: &OpenApi) -> Self {
        let mut json = serde_json::to_value(doc).expect("the OpenAPI document serialises");
        camel_case_links(&mut json);
        require_retry_after(&mut json);
        claim_names(&mut json);
        Self(json.to_string().into())
    }

    pub fn response(&self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0.to_string(),
        )
            .into_response()
    }
}

/// utoipa 5 serialises a Link Object's `operationId`, `operationRef` and `requestBody` in
/// snake case, which is not OpenAPI (and which schemathesis would not follow).
fn camel_case_links(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let links = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut))
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
}

/// Every 429 carries `Retry-After`; utoipa's header object has no `required`.
fn require_retry_after(doc: &mut Value) {
    if let Some(header) = doc.pointer_mut("/components/responses/RateLimited/headers/Retry-After") {
        header["required"] = Value::Bool(true);
    }
}

/// The names a custom claim may have; utoipa has no `propertyNames` with `not`.
fn claim_names(doc: &mut Value) {
    if let Some(schema) = doc
        .pointer_mut("/components/schemas/CustomClaims")
        .and_then(Value::as_object_mut)
    {
        schema.insert(
            "propertyNames".to_owned(),
            serde_json::json!({
                "pattern": "^[!#-\\[\\]-~]{1,128}$",
                "not": { "enum": tessera_core::authz::RESERVED_CLAIMS },
            }),
        );
    }
}

// ---- operations described here rather than on their handlers ---------------------------------

/// One answer for every credential.
///
/// Any method is served the same way (the document lists GET). `?role=` and `?scope=` (each
/// repeatable) also require the credential to carry them; `?mode=` names the forward-auth
/// proxy, which changes only how a denied browser page load is answered. The body is never
/// read.
#[utoipa::path(
    get,
    path = "/v1/check",
    operation_id = "check",
    tag = "check",
    params(
        ("mode" = Option<schemas::CheckMode>, Query, description = "The proxy; another value is 400"),
        ("role" = Option<Vec<schemas::RoleName>>, Query, explode, description = "Required role (repeatable)"),
        ("scope" = Option<Vec<String>>, Query, explode, description = "Required scope tokens (repeatable, space-separated)"),
        ("aal" = Option<u8>, Query, minimum = 1, maximum = 2, description = "Required Authenticator Assurance Level: `2` needs a session that used a second factor (403 below it); another value is 400"),
    ),
    security((), ("bearer" = []), ("session_cookie" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "A valid credential", body = schemas::CheckResult,
            headers(
                ("X-Auth-User" = String, description = "User id"),
                ("X-Auth-Session" = String, description = "Session id"),
                ("X-Auth-Method" = String, description = "`cookie`, `session_token` or `access_token`"),
                ("X-Auth-Email" = String, description = "The address; empty for an access token"),
                ("X-Auth-Roles" = String, description = "Role names joined by `,`"),
                ("X-Auth-Scope" = String, description = "The scope, space-separated"),
                ("X-Auth-Aal" = String, description = "The session's assurance level, `1` or `2`"),
                ("X-Auth-Amr" = String, description = "The session's `amr` values joined by `,`"),
            )),
        (status = 302, description = "Denied browser page load in `traefik`, `caddy` and `envoy` modes: to the login page",
            headers(("Location" = String))),
        responses::BadRequest,
        responses::Unauthorized,
        responses::Forbidden,
        responses::Unavailable,
    )
)]
#[allow(dead_code)]
fn check_any() {}

/// The check, with the proxy named by the path: `/v1/check/<mode>` (for Envoy,
/// `/v1/check/envoy/<original path>`). Any other path under `/v1/check/` is the plain check.
#[utoipa::path(
    get,
    path = "/v1/check/{path}",
    operation_id = "check_with_path",
    tag = "check",
    params(
        ("path" = String, Path, description = "`nginx`, `ingress-nginx`, `traefik`, `caddy`, `envoy` (then the original path), or anything else for the plain check"),
        ("role" = Option<Vec<schemas::RoleName>>, Query, explode, description = "Required role (repeatable)"),
        ("scope" = Option<Vec<String>>, Query, explode, description = "Required scope tokens (repeatable)"),
        ("aal" = Option<u8>, Query, minimum = 1, maximum = 2, description = "Required Authenticator Assurance Level: `2` needs a session that used a second factor (403 below it); another value is 400"),
    ),
    security((), ("bearer" = []), ("session_cookie" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "A valid credential", body = schemas::CheckResult),
        (status = 302, description = "Denied browser page load (`traefik`, `caddy`, `envoy`)",
            headers(("Location" = String))),
        responses::BadRequest,
        responses::Unauthorized,
        responses::Forbidden,
        responses::Unavailable,
    )
)]
#[allow(dead_code)]
fn check_mode() {}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
#[allow(dead_code)]
fn document() {}
