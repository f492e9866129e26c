//! One `TestApp` method per endpoint of the JSON API (accounts, sessions, tokens, the check,
//! revocations), discovery and operations; see `../shared/API.md`. Each returns a [`Call`]
//! with the credential passed explicitly; the test asserts on the response itself.

use reqwest::header::ACCEPT;
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Auth, Call, TestApp};

impl TestApp {
    /// `POST /v1/users`.
    pub fn sign_up(&self, email: &str, password: &str) -> Call {
        self.sign_up_json(&json!({ "email": email, "password": password }))
    }

    /// `POST /v1/users` with any JSON body.
    pub fn sign_up_json(&self, body: &Value) -> Call {
        self.raw(Method::POST, "/v1/users").json_body(body)
    }

    /// `POST /v1/password`.
    pub fn change_password(&self, auth: Auth<'_>, current: &str, new: &str) -> Call {
        self.raw(Method::POST, "/v1/password")
            .auth(auth)
            .json_body(&json!({ "current_password": current, "new_password": new }))
    }

    /// `POST /v1/session` without `transport` (the default, cookie).
    pub fn login(&self, email: &str, password: &str) -> Call {
        self.raw(Method::POST, "/v1/session")
            .json_body(&json!({ "email": email, "password": password }))
    }

    /// `POST /v1/session` with `transport` (`cookie` or `body`).
    pub fn login_via(&self, transport: &str, email: &str, password: &str) -> Call {
        self.raw(Method::POST, "/v1/session")
            .json_body(&json!({ "email": email, "password": password, "transport": transport }))
    }

    /// `GET /v1/session`.
    pub fn get_session(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/v1/session").auth(auth)
    }

    /// `DELETE /v1/session`.
    pub fn logout(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::DELETE, "/v1/session").auth(auth)
    }

    /// `GET /v1/sessions`.
    pub fn list_sessions(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/v1/sessions").auth(auth)
    }

    /// `DELETE /v1/sessions/{id}`.
    pub fn revoke_session(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::DELETE, &format!("/v1/sessions/{id}"))
            .auth(auth)
    }

    /// `DELETE /v1/sessions?scope=…` (no query when `scope` is `None`).
    pub fn revoke_sessions(&self, auth: Auth<'_>, scope: Option<&str>) -> Call {
        let call = self.raw(Method::DELETE, "/v1/sessions").auth(auth);
        match scope {
            Some(scope) => call.query(&[("scope", scope)]),
            None => call,
        }
    }

    /// `DELETE /v1/sessions?scope=others`.
    pub fn revoke_other_sessions(&self, auth: Auth<'_>) -> Call {
        self.revoke_sessions(auth, Some("others"))
    }

    /// `POST /v1/token` with any form.
    pub fn token<T: Serialize + ?Sized>(&self, form: &T) -> Call {
        self.raw(Method::POST, "/v1/token").form(form)
    }

    /// `POST /v1/token` with a JSON body.
    pub fn token_json(&self, body: &Value) -> Call {
        self.raw(Method::POST, "/v1/token").json_body(body)
    }

    /// `POST /v1/token`, `grant_type=password`.
    pub fn grant_password(&self, email: &str, password: &str) -> Call {
        self.grant_password_with(email, password, &[])
    }

    /// `POST /v1/token`, `grant_type=password` plus `extra` fields (`transport`, `client_id`…).
    pub fn grant_password_with(&self, email: &str, password: &str, extra: &[(&str, &str)]) -> Call {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ];
        form.extend_from_slice(extra);
        self.token(&form)
    }

    /// `POST /v1/token`, `grant_type=refresh_token` with the token in the body.
    pub fn grant_refresh(&self, refresh_token: &str) -> Call {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
    }

    /// `POST /v1/token`, `grant_type=refresh_token` with the refresh cookie, `transport` sent
    /// when given. A cookie request also needs `.csrf(…)`.
    pub fn grant_refresh_by_cookie(&self, cookie: &str, transport: Option<&str>) -> Call {
        let mut form = vec![("grant_type", "refresh_token")];
        if let Some(transport) = transport {
            form.push(("transport", transport));
        }
        self.token(&form).auth(Auth::Cookie(cookie))
    }

    /// `POST /v1/token/revoke` with `token`.
    pub fn revoke_token(&self, token: &str) -> Call {
        self.raw(Method::POST, "/v1/token/revoke")
            .form(&[("token", token)])
    }

    /// `POST /v1/token/introspect` with `token`, as the client in `auth`.
    pub fn introspect(&self, auth: Auth<'_>, token: &str) -> Call {
        self.raw(Method::POST, "/v1/token/introspect")
            .auth(auth)
            .form(&[("token", token)])
    }

    /// `GET /v1/check`.
    pub fn check(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/v1/check").auth(auth)
    }

    /// `GET /v1/check?…` with `query` (`role`, `scope`, `mode`; repeatable).
    pub fn check_requiring(&self, auth: Auth<'_>, query: &[(&str, &str)]) -> Call {
        self.check(auth).query(query)
    }

    /// `/v1/check` in a proxy's form: `method` on `/v1/check{rest}`, where `rest` is a mode
    /// (`?mode=nginx`, `/caddy`) or Envoy's `/envoy/<original path>`.
    pub fn check_as(&self, method: Method, rest: &str) -> Call {
        self.raw(method, &format!("/v1/check{rest}"))
    }

    /// `GET /v1/revocations` (JSON) as the client in `auth`.
    pub fn revocations(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/v1/revocations").auth(auth)
    }

    /// `GET /v1/revocations` as an event stream, resuming after `last_event_id` when given.
    pub fn revocation_stream(&self, auth: Auth<'_>, last_event_id: Option<&str>) -> Call {
        let call = self
            .revocations(auth)
            .header(ACCEPT.as_str(), "text/event-stream");
        match last_event_id {
            Some(id) => call.header("last-event-id", id),
            None => call,
        }
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Call {
        self.raw(Method::GET, "/.well-known/jwks.json")
    }

    /// The `kid`s of the published keys, in the order served.
    pub async fn jwks_kids(&self) -> Vec<String> {
        self.jwks().json().await["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    /// `GET /.well-known/oauth-authorization-server`.
    pub fn oauth_metadata(&self) -> Call {
        self.raw(Method::GET, "/.well-known/oauth-authorization-server")
    }

    /// `GET /healthz`.
    pub fn healthz(&self) -> Call {
        self.raw(Method::GET, "/healthz")
    }

    /// `GET /readyz`.
    pub fn readyz(&self) -> Call {
        self.raw(Method::GET, "/readyz")
    }

    /// `GET /metrics`.
    pub fn metrics(&self) -> Call {
        self.raw(Method::GET, "/metrics")
    }
}
