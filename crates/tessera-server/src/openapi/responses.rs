//! The error responses of API.md's conventions, described once in `components.responses` and
//! listed by name in each handler's `responses(...)`: `responses::RateLimited` reads as what
//! the operation can answer, and the document references one description.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Components, ContentBuilder, Object, Ref, RefOr, Type};
use utoipa::IntoResponses;

/// `(name, type, description)` of a response header.
type HeaderDoc = (&'static str, Type, &'static str);

/// `(component name, status, description, response headers)` of every shared error response.
const ERRORS: &[(&str, &str, &str, &[HeaderDoc])] = &[
    (
        "BadRequest",
        "400",
        "`invalid_request` (malformed JSON or form, a missing or wrongly typed field, a rule \
         broken), or an OAuth error code where RFC 6749 §5.2 applies",
        &[],
    ),
    (
        "Unauthorized",
        "401",
        "No valid credential. When the request carried `Authorization`, `WWW-Authenticate: \
         Bearer error=\"invalid_token\"` (RFC 6750)",
        &[("WWW-Authenticate", Type::String, "The RFC 6750 challenge")],
    ),
    (
        "InvalidClient",
        "401",
        "`invalid_client`: no or wrong HTTP Basic client credentials",
        &[(
            "WWW-Authenticate",
            Type::String,
            "`Basic realm=\"tessera\"`",
        )],
    ),
    (
        "Forbidden",
        "403",
        "`forbidden`: the credential may not do this (a user's credential on the admin API, a \
         missing role or scope, a CSRF failure, a wrong current password)",
        &[],
    ),
    ("NotFound", "404", "`not_found`", &[]),
    (
        "MethodNotAllowed",
        "405",
        "`method_not_allowed`: the path exists but not with this method",
        &[],
    ),
    (
        "Conflict",
        "409",
        "`conflict`: e.g. the address is taken",
        &[],
    ),
    (
        "PayloadTooLarge",
        "413",
        "`payload_too_large`: the body is over `server.body_limit`",
        &[],
    ),
    (
        "UnsupportedMediaType",
        "415",
        "`unsupported_media_type`: the body is neither `application/json` nor \
         `application/x-www-form-urlencoded`",
        &[],
    ),
    (
        "RateLimited",
        "429",
        "`rate_limited`: a throttle refused the request",
        &[(
            "Retry-After",
            Type::Integer,
            "Seconds to wait before trying again",
        )],
    ),
    (
        "Unavailable",
        "503",
        "`unavailable`: a dependency (the store) is unreachable",
        &[],
    ),
];

/// Adds every shared error response to the document's components.
pub fn register(components: &mut Components) {
    for (name, _, description, headers) in ERRORS {
        let mut response = ResponseBuilder::new().description(*description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        );
        for (header, kind, about) in *headers {
            response = response.header(
                *header,
                HeaderBuilder::new()
                    .schema(Object::with_type(kind.clone()))
                    .description(Some(*about))
                    .build(),
            );
        }
        components
            .responses
            .insert((*name).to_owned(), RefOr::T(response.build()));
    }
    let (name, schema) = (
        "Error".to_owned(),
        <super::schemas::Error as utoipa::PartialSchema>::schema(),
    );
    components.schemas.insert(name, schema);
}

fn reference(names: &[&str]) -> BTreeMap<String, RefOr<Response>> {
    names
        .iter()
        .map(|name| {
            let (_, status, _, _) = ERRORS
                .iter()
                .find(|(n, ..)| n == name)
                .expect("a registered error response");
            (
                (*status).to_owned(),
                RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
            )
        })
        .collect()
}

/// A type per shared response (or set of them), for `responses(...)` lists.
macro_rules! response_sets {
    ($($(#[$doc:meta])* $set:ident => [$($name:literal),+];)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $set;

        impl IntoResponses for $set {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                reference(&[$($name),+])
            }
        }
    )*};
}

response_sets! {
    BadRequest => ["BadRequest"];
    Unauthorized => ["Unauthorized"];
    InvalidClient => ["InvalidClient"];
    Forbidden => ["Forbidden"];
    NotFound => ["NotFound"];
    Conflict => ["Conflict"];
    RateLimited => ["RateLimited"];
    Unavailable => ["Unavailable"];
    /// What any endpoint that reads a body can answer before the handler runs.
    BodyErrors => ["BadRequest", "PayloadTooLarge", "UnsupportedMediaType"];
    /// The admin API's refusals: no or a wrong key, a user's credential, too many wrong keys.
    AdminErrors => ["Unauthorized", "Forbidden", "RateLimited", "Unavailable"];
    /// A user's own endpoints: no valid credential; a cookie credential without its CSRF token
    /// or from another origin (unsafe methods).
    UserErrors => ["Unauthorized", "Forbidden", "Unavailable"];
}
