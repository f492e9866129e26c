//! Roles, scope and custom claims in a token from the API, read by a second, unrelated JWT
//! implementation (Python's PyJWT) from nothing but the published JWKS.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::authz::{app_with, user_id};
use crate::helpers::{Auth, Backend, ADMIN, PASSWORD};

fn python_with_pyjwt() -> Option<String> {
    let candidates = std::env::var("PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_owned(), "/usr/bin/python3".to_owned()]);
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import jwt, cryptography"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `amr` and `acr` of a token granted after a second factor, verified by PyJWT against the
/// published JWKS.
#[tokio::test]
async fn pyjwt_reads_amr_and_acr_after_a_second_factor() {
    let Some(python) = python_with_pyjwt() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no python3 with PyJWT and cryptography was found"
        );
        eprintln!("skipped: no python3 with PyJWT and cryptography");
        return;
    };
    let app = app_with(Backend::Memory, "").await;
    // PyJWT reads the wall clock, so the test clock stays put: enrolment spends this step's
    // code, the grant uses the next step's (inside the ±1 window).
    app.create_user("amr@example.com").await;
    let (session, _) = app.login_body("amr@example.com").await;
    let enrolment = app.start_totp(Auth::Bearer(&session)).json().await;
    let authenticator = crate::helpers::authenticator(&enrolment);
    let confirmed = app
        .confirm_totp(Auth::Bearer(&session), &app.totp_code(&authenticator, 0))
        .status()
        .await;
    assert!(confirmed.is_success());
    let pending = app.grant_password("amr@example.com", PASSWORD).json().await;
    let grant = app
        .grant_mfa_otp(
            pending["mfa_token"].as_str().unwrap(),
            "otp",
            &app.totp_code(&authenticator, 1),
        )
        .json()
        .await;
    let token = grant["access_token"].as_str().unwrap();
    let seen = &pyjwt_verify(&python, &app, token).await["claims"][0];
    assert_eq!(seen["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(seen["acr"], "urn:tessera:aal2");
}

/// What `pyjwt_verify.py` reports for `token` (which it must accept).
async fn pyjwt_verify(python: &str, app: &crate::helpers::TestApp, token: &str) -> Value {
    let metadata = app.oauth_metadata().json().await;
    let input = json!({
        "jwks": app.jwks().json().await,
        "issuer": metadata["issuer"],
        "audience": "tessera",
        "algorithm": "EdDSA",
        "valid": [token],
        "invalid": [],
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tessera-token/tests/pyjwt_verify.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PyJWT refused: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Roles, scope and custom claims in a token from the API, verified by a second, unrelated
/// implementation (PyJWT) against the published JWKS; and introspection reports the same.
#[tokio::test]
async fn pyjwt_reads_roles_scope_and_claims_from_our_jwks() {
    let Some(python) = python_with_pyjwt() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no python3 with PyJWT and cryptography was found"
        );
        eprintln!("skipped: no python3 with PyJWT and cryptography");
        return;
    };
    let app = app_with(Backend::Memory, "").await;
    let id = user_id(&app, "py@example.com").await;
    app.admin_set_roles(ADMIN, &id, &["admin", "editor"])
        .status()
        .await;
    let claims = json!({"tenant": "acme", "permissions": ["invoices:read"], "level": 3});
    app.admin_set_claims(ADMIN, &id, &claims).status().await;
    let grant = app
        .grant_password_with("py@example.com", PASSWORD, &[("scope", "read write")])
        .json()
        .await;
    let token = grant["access_token"].as_str().unwrap();
    let verified = pyjwt_verify(&python, &app, token).await;
    let seen = &verified["claims"][0];
    assert_eq!(seen["sub"], id);
    assert_eq!(seen["roles"], json!(["admin", "editor"]));
    assert_eq!(seen["scope"], "read write");
    assert_eq!(seen["tenant"], "acme");
    assert_eq!(seen["permissions"], json!(["invoices:read"]));
    assert_eq!(seen["level"], 3);

    // Introspection says the same, for the access token and for the refresh token.
    let client = app.admin_create_client(ADMIN, "rs").json().await;
    let rs = Auth::Basic(
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    for presented in [token, grant["refresh_token"].as_str().unwrap()] {
        let body = app.introspect(rs, presented).json().await;
        assert_eq!(body["active"], true);
        assert_eq!(body["roles"], json!(["admin", "editor"]));
        assert_eq!(body["scope"], "read write");
        assert_eq!(body["tenant"], "acme");
    }
}
