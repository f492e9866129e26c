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

    /// `GET /v1/admin/users/{id}/roles`.
    pub fn admin_roles(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::GET, &format!("/v1/admin/users/{id}/roles"))
            .auth(auth)
    }

    /// `PUT /v1/admin/users/{id}/roles` `{"roles"}`: exactly these.
    pub fn admin_set_roles(&self, auth: Auth<'_>, id: &str, roles: &[&str]) -> Call {
        self.raw(Method::PUT, &format!("/v1/admin/users/{id}/roles"))
            .auth(auth)
            .json_body(&json!({ "roles": roles }))
    }

    /// `POST /v1/admin/users/{id}/roles` `{"roles"}`: these besides the ones held.
    pub fn admin_add_roles(&self, auth: Auth<'_>, id: &str, roles: &[&str]) -> Call {
        self.raw(Method::POST, &format!("/v1/admin/users/{id}/roles"))
            .auth(auth)
            .json_body(&json!({ "roles": roles }))
    }

    /// `DELETE /v1/admin/users/{id}/roles/{role}`.
    pub fn admin_remove_role(&self, auth: Auth<'_>, id: &str, role: &str) -> Call {
        self.raw(
            Method::DELETE,
            &format!("/v1/admin/users/{id}/roles/{role}"),
        )
        .auth(auth)
    }

    /// `GET /v1/admin/users/{id}/claims`.
    pub fn admin_claims(&self, auth: Auth<'_>, id: &str) -> Call {
        self.raw(Method::GET, &format!("/v1/admin/users/{id}/claims"))
            .auth(auth)
    }

    /// `PUT /v1/admin/users/{id}/claims` `{"claims": claims}`.
    pub fn admin_set_claims(&self, auth: Auth<'_>, id: &str, claims: &Value) -> Call {
        self.raw(Method::PUT, &format!("/v1/admin/users/{id}/claims"))
            .auth(auth)
            .json_body(&json!({ "claims": claims }))
    }
}
