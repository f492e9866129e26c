//! One `TestApp` method per admin endpoint (`/v1/admin/…`). The credential is explicit, so the
//! same methods test a missing, wrong or non-admin one.

use reqwest::Method;
use serde_json::{json, Value};

use super::{Auth, Call, TestApp};

pub const ADMIN_KEY: &str = "tsa_test-admin-key-0123456789abcdefghijklmnop";

/// Configuration that sets [`ADMIN_KEY`], for `spawn_app_with`.
pub fn admin_toml() -> String {
    format!("[admin]\napi_key = \"{ADMIN_KEY}\"\n")
}

/// The admin key as a credential.
pub const ADMIN: Auth<'static> = Auth::Bearer(ADMIN_KEY);

impl TestApp {
    /// `GET /v1/admin/users?email=…`.
    pub fn admin_find_users(&self, auth: Auth<'_>, email: &str) -> Call {
        self.raw(Method::GET, "/v1/admin/users")
            .auth(auth)
            .query(&[("email", email)])
    }

    /// `GET /v1/admin/users/{id}`.
    pub fn admin_user(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::GET, &format!("/v1/admin/users/{id}"))
            .auth(auth)
    }

    /// `PATCH /v1/admin/users/{id}` with any JSON body.
    pub fn admin_update_user(&self, auth: Auth<'_>, id: &str, body: &Value) -> Call {
        self.raw(Method::PATCH, &format!("/v1/admin/users/{id}"))
            .auth(auth)
            .json_body(body)
    }

    /// `PATCH /v1/admin/users/{id}` `{"locked": locked}`.
    pub fn admin_set_locked(&self, auth: Auth<'_>, id: &str, locked: bool) -> Call {
        self.admin_update_user(auth, id, &json!({ "locked": locked }))
    }

    /// `GET /v1/admin/users/{id}/sessions`.
    pub fn admin_user_sessions(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::GET, &format!("/v1/admin/users/{id}/sessions"))
            .auth(auth)
    }

    /// `DELETE /v1/admin/users/{id}/sessions`.
    pub fn admin_revoke_user_sessions(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::DELETE, &format!("/v1/admin/users/{id}/sessions"))
            .auth(auth)
    }

    /// `GET /v1/admin/events?…` with `query` (`user_id`, `type`, `limit`, `cursor`).
    pub fn admin_events(&self, auth: Auth<'_>, query: &[(&str, &str)]) -> Call {
        self.raw(Method::GET, "/v1/admin/events")
            .auth(auth)
            .query(query)
    }

    /// `POST /v1/admin/clients` `{"name"}`.
    pub fn admin_create_client(&self, auth: Auth<'_>, name: &str) -> Call {
        self.raw(Method::POST, "/v1/admin/clients")
            .auth(auth)
            .json_body(&json!({ "name": name }))
    }

    /// `GET /v1/admin/clients`.
    pub fn admin_clients(&self, auth: Auth<'_>) -> Call {
        self.raw(Method::GET, "/v1/admin/clients").auth(auth)
    }

    /// `DELETE /v1/admin/clients/{id}`.
    pub fn admin_delete_client(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::DELETE, &format!("/v1/admin/clients/{id}"))
            .auth(auth)
    }
}
