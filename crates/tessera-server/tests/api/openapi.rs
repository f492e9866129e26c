//! `GET /openapi.json`: the OpenAPI 3.1 document generated from the router.
//!
//! The document is built from the same `routes!` declarations that route requests, so it cannot
//! list a route that is not served; these tests pin the other direction (every operation of the
//! contract is documented, and every documented operation is routed) and the parts a client
//! generator relies on.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

/// Every operation of API.md (pages aside), plus the document itself.
const OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/v1/users"),
    ("POST", "/v1/session"),
    ("GET", "/v1/session"),
    ("DELETE", "/v1/session"),
    ("GET", "/v1/sessions"),
    ("DELETE", "/v1/sessions"),
    ("DELETE", "/v1/sessions/{id}"),
    ("GET", "/v1/passkeys"),
    ("POST", "/v1/passkeys"),
    ("POST", "/v1/passkeys/options"),
    ("PATCH", "/v1/passkeys/{id}"),
    ("DELETE", "/v1/passkeys/{id}"),
    ("POST", "/v1/session/passkey/options"),
    ("POST", "/v1/session/passkey"),
    ("POST", "/v1/session/mfa/passkey/options"),
    ("POST", "/v1/session/step-up/passkey/options"),
    ("POST", "/v1/password"),
    ("POST", "/v1/password/reset"),
    ("POST", "/v1/password/reset/confirm"),
    ("POST", "/v1/email"),
    ("POST", "/v1/email/verify"),
    ("POST", "/v1/email/verify/resend"),
    ("GET", "/v1/check"),
    ("GET", "/v1/check/{path}"),
    ("POST", "/v1/token"),
    ("POST", "/v1/token/revoke"),
    ("POST", "/v1/token/introspect"),
    ("GET", "/v1/revocations"),
    ("GET", "/v1/admin/users"),
    ("GET", "/v1/admin/users/{id}"),
    ("PATCH", "/v1/admin/users/{id}"),
    ("GET", "/v1/admin/users/{id}/sessions"),
    ("DELETE", "/v1/admin/users/{id}/sessions"),
    ("GET", "/v1/admin/users/{id}/roles"),
    ("PUT", "/v1/admin/users/{id}/roles"),
    ("POST", "/v1/admin/users/{id}/roles"),
    ("DELETE", "/v1/admin/users/{id}/roles/{role}"),
    ("GET", "/v1/admin/users/{id}/claims"),
    ("PUT", "/v1/admin/users/{id}/claims"),
    ("DELETE", "/v1/admin/users/{id}/factors"),
    ("POST", "/v1/session/mfa"),
    ("POST", "/v1/session/step-up"),
    ("GET", "/v1/factors"),
    ("POST", "/v1/factors/totp"),
    ("DELETE", "/v1/factors/totp"),
    ("POST", "/v1/factors/totp/confirm"),
    ("POST", "/v1/factors/recovery-codes"),
    ("GET", "/v1/admin/events"),
    ("POST", "/v1/admin/clients"),
    ("GET", "/v1/admin/clients"),
    ("DELETE", "/v1/admin/clients/{id}"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

async fn document() -> (crate::helpers::TestApp, Value) {
    let app = spawn_app(Backend::Memory).await;
    let r = app.raw(Method::GET, "/openapi.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    (app, doc)
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, &str, &Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|op| (method.to_uppercase(), path.as_str(), op))
            })
        })
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_contract() {
    let (_app, doc) = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Tessera");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let served: BTreeSet<(String, String)> = operations(&doc)
        .map(|(method, path, _)| (method, path.to_owned()))
        .collect();
    let contract: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = contract.difference(&served).collect();
    let extra: Vec<_> = served.difference(&contract).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented: {missing:?}; documented but not in the contract list: {extra:?}"
    );
}

/// A documented operation that the router did not serve would answer the fallback's 404 or
/// the 405 of a path without that method. Sent without credentials or body, every one is
/// answered by its own handler or its guard instead (200, 401, 415, …).
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let (app, doc) = document().await;
    for (method, path, _) in operations(&doc) {
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{role}", "admin")
            .replace("{path}", "nginx");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = app.raw(method.clone(), &concrete).await;
        let status = r.status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status}"
        );
    }
}

/// What clients and generators rely on: ids, tags, descriptions of every status, the error
/// schema, the security schemes, and examples on the main request bodies.
#[tokio::test]
async fn operations_carry_ids_responses_and_security() {
    let (_app, doc) = document().await;
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path}: no operationId");
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: duplicate id {id}"
        );
        assert!(op["tags"][0].is_string(), "{method} {path}: no tag");
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path}: no responses");
        if path.starts_with("/v1/admin/") {
            assert_eq!(
                op["security"],
                serde_json::json!([{"admin_key": []}]),
                "{path}"
            );
            for status in ["401", "403", "429"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
    let components = &doc["components"];
    for scheme in [
        "session_cookie",
        "access_cookie",
        "csrf_token",
        "bearer",
        "client_basic",
        "admin_key",
    ] {
        assert!(
            components["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }
    // Development servers (cookie.secure = false) name their cookies without the prefix.
    assert_eq!(
        components["securitySchemes"]["session_cookie"]["name"],
        "tessera_session"
    );
    assert_eq!(
        components["responses"]["RateLimited"]["headers"]["Retry-After"]["schema"]["type"],
        "integer"
    );
    assert_eq!(
        components["schemas"]["Error"]["required"],
        serde_json::json!(["error", "error_description"])
    );
    let login = &doc["paths"]["/v1/session"]["post"]["requestBody"]["content"];
    assert!(login["application/json"].is_object());
    assert!(login["application/x-www-form-urlencoded"].is_object());
    let token = &doc["paths"]["/v1/token"]["post"]["requestBody"]["content"];
    assert!(token["application/x-www-form-urlencoded"].is_object());
    assert_eq!(
        components["schemas"]["TokenRequest"]["example"]["grant_type"],
        "password"
    );
    every_ref_resolves(&doc, &doc, "#");
    // Stateful links: sign-up → login → the session.
    let link = &doc["paths"]["/v1/users"]["post"]["responses"]["201"]["links"]["login"];
    assert_eq!(link["operationId"], "login");
}

fn every_ref_resolves(doc: &Value, node: &Value, trail: &str) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("a local $ref");
                assert!(
                    doc.pointer(pointer).is_some(),
                    "{trail}: {target} does not resolve"
                );
            }
            for (key, value) in map {
                every_ref_resolves(doc, value, &format!("{trail}/{key}"));
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                every_ref_resolves(doc, value, &format!("{trail}/{i}"));
            }
        }
        _ => {}
    }
}
