//! Second factors over HTTP with the test clock: TOTP enrolment, the two-step login on every
//! path, replay and the ±1 step window, the throttle, recovery codes, the pending step's
//! limits, `aal` at the check, step-up, and the admin reset.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{
    admin_toml, authenticator, cookie_pair, spawn_app, spawn_app_with, Auth, Backend, TestApp,
    ADMIN, PASSWORD,
};

/// The first step of a body-transport login for an account with TOTP: its 401 body.
async fn first_step(app: &TestApp, email: &str) -> Value {
    let r = app.login_via("body", email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    r.json().await.unwrap()
}

fn second_step(mfa_token: &str, field: &str, code: &str) -> Value {
    json!({ "mfa_token": mfa_token, field: code, "transport": "body" })
}

async fn enrol_and_sign_in_with_two_steps(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("mfa@example.com").await;
    let (token, _) = app.login_body("mfa@example.com").await;
    let auth = Auth::Bearer(&token);
    let none = app.list_factors(auth).json().await;
    assert_eq!(none["mfa_enabled"], false);

    let r = app.start_totp(auth).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let enrolment: Value = r.json().await.unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(enrolment["secret"].as_str().unwrap()));
    assert!(enrolment["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let authenticator = authenticator(&enrolment);
    // Not on yet: a login still needs the password only.
    assert_eq!(
        app.login_via("body", "mfa@example.com", PASSWORD)
            .status()
            .await,
        StatusCode::OK
    );
    let wrong = app.confirm_totp(auth, "000000").await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let confirmed = app
        .confirm_totp(auth, &app.totp_code(&authenticator, 0))
        .json()
        .await;
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    let listed = app.list_factors(auth).json().await;
    assert_eq!(listed["mfa_enabled"], true);
    assert_eq!(listed["recovery_codes"]["remaining"], 10);
    // Enrolling again while on is a conflict.
    assert_eq!(app.start_totp(auth).status().await, StatusCode::CONFLICT);

    let pending = first_step(&app, "mfa@example.com").await;
    assert_eq!(pending["error"], "mfa_required");
    assert_eq!(pending["mfa_required"], true);
    assert_eq!(pending["methods"], json!(["totp", "recovery_code"]));
    assert!(pending.get("session_token").is_none());
    let mfa_token = pending["mfa_token"].as_str().unwrap();
    assert!(mfa_token.starts_with("tsm_"));

    // The code of the step the confirmation used is spent: a replay.
    let replay = app
        .complete_mfa(&second_step(
            mfa_token,
            "code",
            &app.totp_code(&authenticator, 0),
        ))
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(Duration::seconds(30));
    let code = app.totp_code(&authenticator, 0);
    let r = app
        .complete_mfa(&second_step(mfa_token, "code", &code))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let login: Value = r.json().await.unwrap();
    assert_eq!(login["session"]["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(login["session"]["aal"], 2);
    let session_token = login["session_token"].as_str().unwrap();
    let me = app.get_session(Auth::Bearer(session_token)).json().await;
    assert_eq!(me["session"]["aal"], 2);
    assert_ne!(me["session"]["id"], json!(null));

    // The pending step is single use, and the code too.
    app.clock.advance(Duration::seconds(30));
    let again = app
        .complete_mfa(&second_step(
            mfa_token,
            "code",
            &app.totp_code(&authenticator, 0),
        ))
        .await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let fresh = first_step(&app, "mfa@example.com").await;
    let reused_code = app
        .complete_mfa(&second_step(
            fresh["mfa_token"].as_str().unwrap(),
            "code",
            &code,
        ))
        .await;
    assert_eq!(reused_code.status(), StatusCode::UNAUTHORIZED);
}

async fn totp_window_is_one_step_each_way(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authenticator, _, _) = app.user_with_totp("w@example.com").await;
    app.clock.advance(Duration::minutes(5));
    for (steps, accepted) in [(-2, false), (2, false), (-1, true), (1, true)] {
        let pending = first_step(&app, "w@example.com").await;
        let r = app
            .complete_mfa(&second_step(
                pending["mfa_token"].as_str().unwrap(),
                "code",
                &app.totp_code(&authenticator, steps),
            ))
            .await;
        let expected = if accepted {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status(), expected, "{steps} steps away");
    }
}

async fn wrong_codes_are_throttled_per_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authenticator, _, _) = app.user_with_totp("t@example.com").await;
    let pending = first_step(&app, "t@example.com").await;
    let token = pending["mfa_token"].as_str().unwrap();
    for _ in 0..5 {
        let r = app
            .complete_mfa(&second_step(token, "code", "123456"))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let right = app.totp_code(&authenticator, 0);
    let r = app.complete_mfa(&second_step(token, "code", &right)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    app.clock.advance(Duration::minutes(1));
    let r = app
        .complete_mfa(&second_step(
            token,
            "code",
            &app.totp_code(&authenticator, 0),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the window passed");
}

async fn recovery_codes_work_once_and_are_audited(backend: Backend) {
    let app = spawn_app_with(backend, &admin_toml()).await;
    let (_, codes, _) = app.user_with_totp("r@example.com").await;
    let pending = first_step(&app, "r@example.com").await;
    let token = pending["mfa_token"].as_str().unwrap();
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = app
        .complete_mfa(&second_step(token, "recovery_code", &typed))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let login: Value = r.json().await.unwrap();
    assert_eq!(login["session"]["aal"], 2);
    let session = login["session_token"].as_str().unwrap();
    let factors = app.list_factors(Auth::Bearer(session)).json().await;
    assert_eq!(factors["recovery_codes"]["remaining"], 9);

    let pending = first_step(&app, "r@example.com").await;
    let again = app
        .complete_mfa(&second_step(
            pending["mfa_token"].as_str().unwrap(),
            "recovery_code",
            &codes[3],
        ))
        .await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "single use");
    let events = app
        .admin_events(ADMIN, &[("type", "recovery_code_used")])
        .json()
        .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["remaining"], 9);
}

async fn pending_step_expires_and_authenticates_nothing(backend: Backend) {
    let app = spawn_app_with(backend, &admin_toml()).await;
    let (authenticator, _, _) = app.user_with_totp("p@example.com").await;
    let pending = first_step(&app, "p@example.com").await;
    let token = pending["mfa_token"].as_str().unwrap();
    let bearer = Auth::Bearer(token);
    assert_eq!(
        app.get_session(bearer).status().await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.check(bearer).status().await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.list_factors(bearer).status().await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = app.grant_refresh(token).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        refresh.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let client = app.admin_create_client(ADMIN, "rs").json().await;
    let rs = Auth::Basic(
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    assert_eq!(
        app.introspect(rs, token).json().await,
        json!({ "active": false })
    );
    // A session login's pending step does not complete a token grant either.
    let code = app.totp_code(&authenticator, 0);
    assert_eq!(
        app.grant_mfa_otp(token, "otp", &code).status().await,
        StatusCode::BAD_REQUEST
    );

    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let late = app
        .complete_mfa(&second_step(
            token,
            "code",
            &app.totp_code(&authenticator, 0),
        ))
        .await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED, "expired");
}

async fn check_requires_aal2_when_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authenticator, _, enrolled_with) = app.user_with_totp("c@example.com").await;
    let enrolled = Auth::Bearer(&enrolled_with);
    app.create_user("plain@example.com").await;
    let (plain, _) = app.login_body("plain@example.com").await;
    let r = app
        .check_requiring(Auth::Bearer(&plain), &[("aal", "2")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.check(Auth::Bearer(&plain)).await;
    assert_eq!(r.headers()["x-auth-aal"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["amr"], json!(["pwd"]));
    assert_eq!(
        app.check_requiring(enrolled, &[("aal", "3")])
            .status()
            .await,
        StatusCode::BAD_REQUEST
    );

    let pending = first_step(&app, "c@example.com").await;
    let login = app
        .complete_mfa(&second_step(
            pending["mfa_token"].as_str().unwrap(),
            "code",
            &app.totp_code(&authenticator, 0),
        ))
        .json()
        .await;
    let strong = Auth::Bearer(login["session_token"].as_str().unwrap());
    let r = app.check_requiring(strong, &[("aal", "2")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-aal"], "2");
    assert_eq!(r.headers()["x-auth-amr"], "pwd,otp,mfa");
    assert_eq!(r.json::<Value>().await.unwrap()["aal"], 2);
}

async fn sensitive_actions_need_a_recent_step_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authenticator, _, token) = app.user_with_totp("s@example.com").await;
    let auth = Auth::Bearer(&token);
    // Confirming counted as a step-up; ten minutes later it no longer does.
    app.clock.advance(Duration::minutes(11));
    let refused = app.remove_totp(auth).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "step_up_required"
    );
    let r = app
        .change_password(auth, PASSWORD, "another fine password")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.revoke_other_sessions(auth).status().await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.regenerate_recovery_codes(auth).status().await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.step_up(auth, &json!({ "code": "000000" }))
            .status()
            .await,
        StatusCode::BAD_REQUEST
    );
    let r = app
        .step_up(auth, &json!({ "code": app.totp_code(&authenticator, 0) }))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_session(auth).json().await["session"]["aal"], 2);
    let codes = app.regenerate_recovery_codes(auth).json().await;
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(
        app.revoke_other_sessions(auth).status().await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.remove_totp(auth).status().await, StatusCode::NO_CONTENT);
    // Off again: the password alone signs in.
    assert_eq!(
        app.login_via("body", "s@example.com", PASSWORD)
            .status()
            .await,
        StatusCode::OK
    );
}

async fn password_grant_has_a_second_step(backend: Backend) {
    let app = spawn_app_with(backend, &admin_toml()).await;
    let (authenticator, codes, _) = app.user_with_totp("g@example.com").await;
    let r = app.grant_password("g@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    assert!(body.get("access_token").is_none());
    let mfa_token = body["mfa_token"].as_str().unwrap();
    // A token grant's pending step does not complete a session login.
    let code = app.totp_code(&authenticator, 0);
    assert_eq!(
        app.complete_mfa(&second_step(mfa_token, "code", &code))
            .status()
            .await,
        StatusCode::UNAUTHORIZED
    );
    let r = app.grant_mfa_otp(mfa_token, "otp", &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let grant: Value = r.json().await.unwrap();
    let claims = jwt_claims(grant["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:tessera:aal2");
    // Introspection says the same, for the access token and the refresh token.
    let client = app.admin_create_client(ADMIN, "rs").json().await;
    let rs = Auth::Basic(
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    for presented in ["access_token", "refresh_token"] {
        let seen = app
            .introspect(rs, grant[presented].as_str().unwrap())
            .json()
            .await;
        assert_eq!(seen["acr"], "urn:tessera:aal2", "{presented}");
        assert_eq!(seen["amr"], json!(["pwd", "otp", "mfa"]), "{presented}");
    }
    // The refreshed token keeps the session's assurance.
    let refreshed = app
        .grant_refresh(grant["refresh_token"].as_str().unwrap())
        .json()
        .await;
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["acr"],
        "urn:tessera:aal2"
    );
    // With a recovery code, and the grant type is advertised.
    let body = app.grant_password("g@example.com", PASSWORD).json().await;
    let r = app
        .grant_mfa_otp(
            body["mfa_token"].as_str().unwrap(),
            "recovery_code",
            &codes[0],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let metadata = app.oauth_metadata().json().await;
    assert!(metadata["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("urn:tessera:params:oauth:grant-type:mfa-otp")));
    // Without a factor a token says aal1.
    app.create_user("one@example.com").await;
    let plain = app.token_pair("one@example.com").await;
    let claims = jwt_claims(plain["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:tessera:aal1");
}

async fn cookie_second_step_sets_a_new_session_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authenticator, _, _) = app.user_with_totp("k@example.com").await;
    let r = app.login("k@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_pair(r.headers(), "tessera_session").is_none());
    let pending: Value = r.json().await.unwrap();
    let r = app
        .complete_mfa(&json!({
            "mfa_token": pending["mfa_token"],
            "code": app.totp_code(&authenticator, 0),
        }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = cookie_pair(r.headers(), "tessera_session").expect("session cookie");
    let me = app.get_session(Auth::Cookie(&cookie)).json().await;
    assert_eq!(me["session"]["amr"], json!(["pwd", "otp", "mfa"]));
}

async fn admin_reset_removes_factors_and_ends_sessions(backend: Backend) {
    let app = spawn_app_with(backend, &admin_toml()).await;
    let (_, _, token) = app.user_with_totp("a@example.com").await;
    let id = app.get_session(Auth::Bearer(&token)).json().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.admin_reset_factors(Auth::Bearer(&token), &id)
            .status()
            .await,
        StatusCode::FORBIDDEN,
        "a user's session is no admin key"
    );
    assert_eq!(
        app.admin_reset_factors(ADMIN, &id).status().await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_session(Auth::Bearer(&token)).status().await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_via("body", "a@example.com", PASSWORD)
            .status()
            .await,
        StatusCode::OK
    );
    let events = app
        .admin_events(ADMIN, &[("type", "factors_reset")])
        .json()
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.admin_reset_factors(ADMIN, &uuid::Uuid::new_v4().to_string())
            .status()
            .await,
        StatusCode::NOT_FOUND
    );
}

/// The payload of a JWT, unverified (PyJWT verifies in `authz_pyjwt`).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

crate::on_every_backend!(
    enrol_and_sign_in_with_two_steps,
    totp_window_is_one_step_each_way,
    wrong_codes_are_throttled_per_user,
    recovery_codes_work_once_and_are_audited,
    pending_step_expires_and_authenticates_nothing,
    check_requires_aal2_when_asked,
    sensitive_actions_need_a_recent_step_up,
    password_grant_has_a_second_step,
    cookie_second_step_sets_a_new_session_cookie,
    admin_reset_removes_factors_and_ends_sessions,
);
