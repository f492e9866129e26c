//! Passkeys end to end over HTTP with a software authenticator (`webauthn-authenticator-rs`'s
//! `SoftPasskey`, which signs like a real one): register, list, rename, delete, a sign-in with
//! the passkey alone, the passkey as the second step of a password login, and the refusals
//! (wrong origin, replayed or expired ceremony, another user's credential).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::Duration;
use url::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};

use crate::helpers::{spawn_app, spawn_app_with, Auth, Backend, TestApp, PASSWORD};
use crate::on_every_backend;

/// The default `webauthn.origins`: `server.public_url`'s default.
pub const ORIGIN: &str = "http://localhost:8080";

pub type Authenticator = WebauthnAuthenticator<SoftPasskey>;

pub fn authenticator() -> Authenticator {
    // `true`: the authenticator reports user verification, as a PIN or a fingerprint would.
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

fn origin(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// Registers a passkey for the session `auth` with `device`; the created passkey's JSON.
pub async fn register(app: &TestApp, auth: Auth<'_>, device: &mut Authenticator) -> Value {
    let started = app
        .raw(Method::POST, "/v1/passkeys/options")
        .auth(auth)
        .json()
        .await;
    let options: CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).expect("creation options");
    let credential = device.do_registration(origin(ORIGIN), options).unwrap();
    let r = app
        .raw(Method::POST, "/v1/passkeys")
        .auth(auth)
        .json_body(&json!({
            "ceremony_id": started["ceremony_id"],
            "name": "Laptop",
            "credential": credential,
        }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// What the browser sends for a discoverable sign-in. `SoftPasskey` stores no resident keys,
/// so the test names the credential in the options and adds the user handle a discoverable
/// authenticator returns (the user handle is not signed; the server trusts only the signature
/// over its own challenge by the key it has on file for that user).
pub fn discoverable_assertion(
    device: &mut Authenticator,
    options: &Value,
    credential_id: &Value,
    user_id: &str,
    at: &str,
) -> PublicKeyCredential {
    let mut options: RequestChallengeResponse =
        serde_json::from_value(options.clone()).expect("request options");
    options.public_key.allow_credentials = vec![AllowCredentials {
        type_: "public-key".into(),
        id: serde_json::from_value(credential_id.clone()).unwrap(),
        transports: None,
    }];
    let mut assertion = device.do_authentication(origin(at), options).unwrap();
    let uuid = uuid::Uuid::parse_str(user_id).unwrap();
    assertion.response.user_handle = Some(uuid.as_bytes().to_vec().into());
    assertion
}

async fn start_login(app: &TestApp) -> Value {
    let r = app.raw(Method::POST, "/v1/session/passkey/options").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

pub async fn finish_login(
    app: &TestApp,
    ceremony: &Value,
    cred: &PublicKeyCredential,
) -> reqwest::Response {
    app.raw(Method::POST, "/v1/session/passkey")
        .json_body(&json!({
            "ceremony_id": ceremony["ceremony_id"],
            "credential": cred,
            "transport": "body",
        }))
        .await
}

/// Registers a passkey and returns (session token, user id, credential id as JSON).
async fn user_with_passkey(
    app: &TestApp,
    email: &str,
    device: &mut Authenticator,
) -> (String, String, Value) {
    let user = app.create_user(email).await;
    let (token, _) = app.login_body(email).await;
    let started = app
        .raw(Method::POST, "/v1/passkeys/options")
        .auth(Auth::Bearer(&token))
        .json()
        .await;
    let options: CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let credential = device.do_registration(origin(ORIGIN), options).unwrap();
    let credential_id = serde_json::to_value(&credential.raw_id).unwrap();
    let r = app
        .raw(Method::POST, "/v1/passkeys")
        .auth(Auth::Bearer(&token))
        .json_body(&json!({ "ceremony_id": started["ceremony_id"], "credential": credential }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    (
        token,
        user["id"].as_str().unwrap().to_owned(),
        credential_id,
    )
}

async fn register_list_rename_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("pk@example.com").await;
    let (token, _) = app.login_body("pk@example.com").await;
    let auth = Auth::Bearer(&token);
    let mut device = authenticator();
    let created = register(&app, auth, &mut device).await;
    assert_eq!(created["name"], "Laptop");
    let listed = app.raw(Method::GET, "/v1/passkeys").auth(auth).json().await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1);
    let id = created["id"].as_str().unwrap();
    let factors = app.list_factors(auth).json().await;
    assert_eq!(factors["mfa_enabled"], true, "a passkey is a second factor");

    let renamed = app
        .raw(Method::PATCH, &format!("/v1/passkeys/{id}"))
        .auth(auth)
        .json_body(&json!({ "name": "  Work key " }))
        .await;
    assert_eq!(renamed.status(), StatusCode::NO_CONTENT);
    let listed = app.raw(Method::GET, "/v1/passkeys").auth(auth).json().await;
    assert_eq!(listed["passkeys"][0]["name"], "Work key");
    let empty = app
        .raw(Method::PATCH, &format!("/v1/passkeys/{id}"))
        .auth(auth)
        .json_body(&json!({ "name": " " }))
        .await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    // Another user can neither rename nor delete it.
    app.create_user("other@example.com").await;
    let (other, _) = app.login_body("other@example.com").await;
    let foreign = app
        .raw(Method::DELETE, &format!("/v1/passkeys/{id}"))
        .auth(Auth::Bearer(&other))
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    // The registering session proved the key: deleting is allowed without another step-up.
    let deleted = app
        .raw(Method::DELETE, &format!("/v1/passkeys/{id}"))
        .auth(auth)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let listed = app.raw(Method::GET, "/v1/passkeys").auth(auth).json().await;
    assert_eq!(listed["passkeys"], json!([]));
}

async fn sign_in_with_the_passkey_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut device = authenticator();
    let (_, user_id, cred_id) = user_with_passkey(&app, "alone@example.com", &mut device).await;
    let ceremony = start_login(&app).await;
    assert_eq!(ceremony["options"]["mediation"], "conditional");
    let assertion = discoverable_assertion(
        &mut device,
        &ceremony["options"],
        &cred_id,
        &user_id,
        ORIGIN,
    );
    let r = finish_login(&app, &ceremony, &assertion).await;
    assert_eq!(r.status(), StatusCode::OK);
    let login: Value = r.json().await.unwrap();
    let amr = login["session"]["amr"].as_array().unwrap().clone();
    assert!(amr.contains(&json!("user")), "{amr:?}");
    assert!(
        amr.contains(&json!("hwk")) || amr.contains(&json!("swk")),
        "{amr:?}"
    );
    assert!(!amr.contains(&json!("pwd")), "{amr:?}");
    assert_eq!(login["session"]["aal"], 2);
    let token = login["session_token"].as_str().unwrap();
    let me = app.get_session(Auth::Bearer(token)).json().await;
    assert_eq!(me["session"]["aal"], 2);

    // The same ceremony again (a replayed challenge): refused.
    let replay = finish_login(&app, &ceremony, &assertion).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let body: Value = replay.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

async fn passkey_as_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut device = authenticator();
    user_with_passkey(&app, "second@example.com", &mut device).await;
    let r = app.login_via("body", "second@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let first: Value = r.json().await.unwrap();
    let mfa_token = first["mfa_token"].as_str().unwrap();
    assert!(
        first["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("passkey")),
        "{first}"
    );
    let started = app
        .raw(Method::POST, "/v1/session/mfa/passkey/options")
        .json_body(&json!({ "mfa_token": mfa_token }))
        .json()
        .await;
    let options: RequestChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let assertion = device.do_authentication(origin(ORIGIN), options).unwrap();
    let done = app
        .complete_mfa(&json!({
            "mfa_token": mfa_token,
            "passkey": { "ceremony_id": started["ceremony_id"], "credential": assertion },
            "transport": "body",
        }))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let login: Value = done.json().await.unwrap();
    let amr = login["session"]["amr"].as_array().unwrap().clone();
    assert_eq!(amr[0], "pwd");
    assert!(amr.contains(&json!("mfa")), "{amr:?}");
    assert_eq!(login["session"]["aal"], 2);
}

async fn refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut device = authenticator();
    let (_, user_id, cred_id) = user_with_passkey(&app, "refuse@example.com", &mut device).await;

    // Another origin (a phishing site relaying the challenge).
    let ceremony = start_login(&app).await;
    let phished = discoverable_assertion(
        &mut device,
        &ceremony["options"],
        &cred_id,
        &user_id,
        "http://localhost:9999",
    );
    let r = finish_login(&app, &ceremony, &phished).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // An expired ceremony.
    let ceremony = start_login(&app).await;
    let late = discoverable_assertion(
        &mut device,
        &ceremony["options"],
        &cred_id,
        &user_id,
        ORIGIN,
    );
    app.clock.advance(Duration::minutes(6));
    let r = finish_login(&app, &ceremony, &late).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Another user's handle on this credential: the key is not on file for that user.
    let other = app.create_user("victim@example.com").await;
    let ceremony = start_login(&app).await;
    let swapped = discoverable_assertion(
        &mut device,
        &ceremony["options"],
        &cred_id,
        other["id"].as_str().unwrap(),
        ORIGIN,
    );
    let r = finish_login(&app, &ceremony, &swapped).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Another user's passkey for the second step of this user's login.
    let mut theirs = authenticator();
    let (_, _, mallory_cred) = user_with_passkey(&app, "mallory@example.com", &mut theirs).await;
    let first: Value = app
        .login_via("body", "refuse@example.com", PASSWORD)
        .json()
        .await;
    let mfa_token = first["mfa_token"].as_str().unwrap();
    let started = app
        .raw(Method::POST, "/v1/session/mfa/passkey/options")
        .json_body(&json!({ "mfa_token": mfa_token }))
        .json()
        .await;
    let mut options: RequestChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    // Mallory's authenticator answers this user's challenge with her own credential.
    options.public_key.allow_credentials = vec![AllowCredentials {
        type_: "public-key".into(),
        id: serde_json::from_value(mallory_cred).unwrap(),
        transports: None,
    }];
    let foreign = theirs.do_authentication(origin(ORIGIN), options).unwrap();
    let r = app
        .complete_mfa(&json!({
            "mfa_token": mfa_token,
            "passkey": { "ceremony_id": started["ceremony_id"], "credential": foreign },
            "transport": "body",
        }))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Malformed input gets a JSON error, not a panic.
    let garbage = app
        .raw(Method::POST, "/v1/session/passkey")
        .json_body(&json!({ "ceremony_id": "not-a-uuid", "credential": {} }))
        .await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let body: Value = garbage.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

/// An assertion made for another relying-party id (from an allowed origin) is refused: the
/// authenticator data's rp id hash is not that of `webauthn.rp_id`.
async fn wrong_rp_id_is_refused(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[webauthn]\nrp_id = \"localhost\"\norigins = [\"http://localhost:8080\", \"https://sub.localhost\"]",
    )
    .await;
    let mut device = authenticator();
    let (_, user_id, cred_id) = user_with_passkey(&app, "rpid@example.com", &mut device).await;
    let ceremony = start_login(&app).await;
    let mut options = ceremony["options"].clone();
    options["publicKey"]["rpId"] = json!("sub.localhost");
    let assertion = discoverable_assertion(
        &mut device,
        &options,
        &cred_id,
        &user_id,
        "https://sub.localhost",
    );
    let r = finish_login(&app, &ceremony, &assertion).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The control: the same origin with the configured rp id signs in.
    let ceremony = start_login(&app).await;
    let assertion = discoverable_assertion(
        &mut device,
        &ceremony["options"],
        &cred_id,
        &user_id,
        "https://sub.localhost",
    );
    let r = finish_login(&app, &ceremony, &assertion).await;
    assert_eq!(r.status(), StatusCode::OK);
}

on_every_backend!(
    register_list_rename_delete,
    sign_in_with_the_passkey_alone,
    passkey_as_second_factor,
    refusals,
    wrong_rp_id_is_refused,
    pages_serve_the_script_and_list_passkeys,
);

/// The pages' script is served from this server with a JavaScript type; the account page lists
/// passkeys with rename and delete forms that work without it.
async fn pages_serve_the_script_and_list_passkeys(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.raw(Method::GET, "/passkeys.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(r.text().await.unwrap().contains("navigator.credentials"));

    let mut device = authenticator();
    app.create_user("page@example.com").await;
    let (cookie, _, _) = app.login_cookie("page@example.com").await;
    let (token, _) = app.login_body("page@example.com").await;
    register(&app, Auth::Bearer(&token), &mut device).await;
    let html = app
        .raw(Method::GET, "/account")
        .auth(Auth::Cookie(&cookie))
        .text()
        .await;
    assert!(html.contains("<h2>Passkeys</h2>"), "{html}");
    assert!(html.contains("Laptop"));
    assert!(html.contains("/rename\"") && html.contains("/delete\""));
    assert!(html.contains("id=\"passkey-add\""));
}
