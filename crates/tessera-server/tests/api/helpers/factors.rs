//! One `TestApp` method per second-factor endpoint, and the codes an authenticator app would
//! show, computed with totp-rs from the enrolment's `otpauth://` URI at the test clock's time.

use reqwest::Method;
use serde_json::{json, Value};
use totp_rs::TOTP;

use super::{Auth, Call, TestApp};

/// A TOTP generator for what `POST /v1/factors/totp` answered, read from the URI alone.
pub fn authenticator(enrolment: &Value) -> TOTP {
    TOTP::from_url(enrolment["otpauth_uri"].as_str().expect("otpauth_uri")).expect("a TOTP URI")
}

impl TestApp {
    /// The code `app` shows now, `steps` time steps away (negative: earlier).
    pub fn totp_code(&self, app: &TOTP, steps: i64) -> String {
        let now = self.clock_now().unix_timestamp() + steps * 30;
        app.generate(u64::try_from(now).expect("after 1970"))
    }

    fn clock_now(&self) -> time::OffsetDateTime {
        tessera_core::Clock::now(&self.clock)
    }

    /// `GET /v1/factors`.
    pub fn list_factors(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/v1/factors").auth(auth)
    }

    /// `POST /v1/factors/totp`.
    pub fn start_totp(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::POST, "/v1/factors/totp").auth(auth)
    }

    /// `POST /v1/factors/totp/confirm`.
    pub fn confirm_totp(&self, auth: Auth<'_>, code: &str) -> Call {
        self.raw(Method::POST, "/v1/factors/totp/confirm")
            .auth(auth)
            .json_body(&json!({ "code": code }))
    }

    /// `DELETE /v1/factors/totp`.
    pub fn remove_totp(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::DELETE, "/v1/factors/totp").auth(auth)
    }

    /// `POST /v1/factors/recovery-codes`.
    pub fn regenerate_recovery_codes(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::POST, "/v1/factors/recovery-codes")
            .auth(auth)
    }

    /// `POST /v1/session/mfa` with a JSON body (`mfa_token`, `code` or `recovery_code`,
    /// `transport`).
    pub fn complete_mfa(&self, body: &Value) -> Call {
        self.raw(Method::POST, "/v1/session/mfa").json_body(body)
    }

    /// `POST /v1/session/step-up` with a JSON body (`code` or `recovery_code`).
    pub fn step_up(&self, auth: Auth<'_>, body: &Value) -> Call {
        self.raw(Method::POST, "/v1/session/step-up")
            .auth(auth)
            .json_body(body)
    }

    /// `POST /v1/token`, `grant_type=urn:tessera:params:oauth:grant-type:mfa-otp`.
    pub fn grant_mfa_otp(&self, mfa_token: &str, field: &str, code: &str) -> Call {
        self.token(&[
            ("grant_type", "urn:tessera:params:oauth:grant-type:mfa-otp"),
            ("mfa_token", mfa_token),
            (field, code),
        ])
    }

    /// `DELETE /v1/admin/users/{id}/factors`.
    pub fn admin_reset_factors(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::DELETE, &format!("/v1/admin/users/{id}/factors"))
            .auth(auth)
    }

    /// Signs `email` up with TOTP on: returns the authenticator, the recovery codes and the
    /// `tss_` token of the session that enrolled. The clock moves one step on, so the next code
    /// is not the one confirmation spent.
    pub async fn user_with_totp(&self, email: &str) -> (TOTP, Vec<String>, String) {
        self.create_user(email).await;
        let (token, _) = self.login_body(email).await;
        let enrolment = self.start_totp(Auth::Bearer(&token)).json().await;
        let app = authenticator(&enrolment);
        let confirmed = self
            .confirm_totp(Auth::Bearer(&token), &self.totp_code(&app, 0))
            .json()
            .await;
        let codes = confirmed["recovery_codes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        self.clock.advance(time::Duration::seconds(30));
        (app, codes, token)
    }
}
