//! One `TestApp` method per browser page. GETs take the browser's cookies; POSTs take them and
//! the form fields, `csrf_token` included when the test sends one.

use reqwest::Method;
use serde::Serialize;

use super::{Auth, Call, TestApp};

/// The value of the first `name="…" value="…"` input in `html`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

impl TestApp {
    /// `GET /login` (add `.query(…)` for `return_to`).
    pub fn login_page(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/login").auth(auth)
    }

    /// `POST /login`.
    pub fn submit_login<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/login").auth(auth).form(fields)
    }

    /// `GET /signup`.
    pub fn signup_page(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/signup").auth(auth)
    }

    /// `POST /signup`.
    pub fn submit_signup<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/signup").auth(auth).form(fields)
    }

    /// `GET /account` (add `.query(…)` for `done`).
    pub fn account_page(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/account").auth(auth)
    }

    /// `POST /account/password`.
    pub fn submit_password_change<T: Serialize + ?Sized>(
        &self,
        auth: Auth<'_>,
        fields: &T,
    ) -> Call {
        self.raw(Method::POST, "/account/password")
            .auth(auth)
            .form(fields)
    }

    /// `POST /account/sessions/{id}/revoke`.
    pub fn submit_session_revoke<T: Serialize + ?Sized>(
        &self,
        auth: Auth<'_>,
        id: &str,
        fields: &T,
    ) -> Call {
        self.raw(Method::POST, &format!("/account/sessions/{id}/revoke"))
            .auth(auth)
            .form(fields)
    }

    /// `POST /account/sessions/revoke-others`.
    pub fn submit_revoke_others<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/account/sessions/revoke-others")
            .auth(auth)
            .form(fields)
    }

    /// `GET /logout` (which never logs out).
    pub fn logout_page(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/logout").auth(auth)
    }

    /// `POST /logout`.
    pub fn submit_logout<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/logout").auth(auth).form(fields)
    }

    /// `GET /forgot`.
    pub fn forgot_page(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/forgot").auth(auth)
    }

    /// `POST /forgot`.
    pub fn submit_forgot<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/forgot").auth(auth).form(fields)
    }

    /// `GET /reset?token=…`.
    pub fn reset_page(&self, auth: Auth<'_>, token: &str) -> Call {
        self.raw(Method::GET, "/reset")
            .auth(auth)
            .query(&[("token", token)])
    }

    /// `POST /reset`.
    pub fn submit_reset<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/reset").auth(auth).form(fields)
    }

    /// `GET /verify?token=…`.
    pub fn verify_page(&self, auth: Auth<'_>, token: &str) -> Call {
        self.raw(Method::GET, "/verify")
            .auth(auth)
            .query(&[("token", token)])
    }

    /// `POST /verify`.
    pub fn submit_verify<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/verify").auth(auth).form(fields)
    }

    /// `POST /account/email`.
    pub fn submit_email_change<T: Serialize + ?Sized>(&self, auth: Auth<'_>, fields: &T) -> Call {
        self.raw(Method::POST, "/account/email")
            .auth(auth)
            .form(fields)
    }
}
