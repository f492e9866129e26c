//! `GET /account` and its forms, and sign-out (`POST /logout`).
//!
//! Every POST here is a cookie-authenticated unsafe request: the router's `csrf::enforce` layer
//! has already checked the `csrf_token` form field and the request's origin before a handler
//! runs. A signed-out visitor is sent to the sign-in page and nothing is done.

use std::cmp::Reverse;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::{Session, SessionId, SessionKind};
use time::{OffsetDateTime, UtcOffset};

use super::html::{esc, message};
use super::login::THROTTLED;
use super::{page, query_param, see_other, with_cookies, PageError, PageForm, Viewer};
use crate::auth::{AuthMethod, Principal};
use crate::csrf;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::routes::session::successor_cookies;
use crate::state::AppState;
use tessera_engine::EngineError;
use tessera_engine::{accounts, sessions};

const SIGN_IN: &str = "/login?return_to=/account";

pub async fn show(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let done = query_param(query.as_deref(), "done");
    let notice = done.as_deref().and_then(notice_text);
    render(&state, &p, StatusCode::OK, notice, None).await
}

/// The fixed text for a `?done=` flash; the query value itself is never shown.
fn notice_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "password" => "Your password was changed. Every other session was signed out.",
        "revoked" => "That session was signed out.",
        "gone" => "That session had already ended.",
        "others" => "Every other session was signed out.",
        "email" => "We sent a link to the new address. Your address changes when you open it.",
        "stepped_up" => "Confirmed. For the next few minutes you can change sensitive settings.",
        "totp_removed" => "Two-step verification is off.",
        "passkey_added" => "The passkey was added.",
        "passkey_renamed" => "The passkey was renamed.",
        "passkey_deleted" => "The passkey was deleted.",
        _ => return None,
    })
}

pub async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let id: SessionId = id.parse().map_err(|_| PageError::NOT_FOUND)?;
    if id == p.session_id {
        return sign_out(&state, Some(&p), &caller).await;
    }
    // Only the caller's own live sessions; any other id reads as already ended.
    let revoked = match sessions::find_own(&state, p.user_id, id).await? {
        Some(session) => {
            sessions::revoke(
                &state,
                session.id,
                p.user_id,
                tessera_engine::AuditKind::SessionRevoked,
                Some(&caller),
            )
            .await?
        }
        None => false,
    };
    Ok(see_other(if revoked {
        "/account?done=revoked"
    } else {
        "/account?done=gone"
    }))
}

pub async fn revoke_others(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    match sessions::end_others(&state, &p, &caller).await {
        Ok(_) => Ok(see_other("/account?done=others")),
        Err(EngineError::StepUpRequired) => {
            render(
                &state,
                &p,
                StatusCode::FORBIDDEN,
                None,
                Some(super::account_factors::STEP_UP_FIRST),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordForm(<redacted>)")
    }
}

pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let changed = accounts::change_password_and_rotate(
        &state,
        &p,
        &form.current_password,
        &form.new_password,
        &caller,
    )
    .await;
    let mut retry_after = None;
    let (status, error) = match changed {
        Ok(successor) => {
            let cookies = successor_cookies(&state, &successor);
            return Ok(with_cookies(see_other("/account?done=password"), cookies));
        }
        // Policy violations: the validation text names the rule, never the submitted value.
        Err(EngineError::Invalid(text)) => (StatusCode::BAD_REQUEST, text),
        Err(EngineError::Forbidden(_)) => (
            StatusCode::FORBIDDEN,
            "The current password is incorrect. Your password was not changed.".to_owned(),
        ),
        Err(EngineError::StepUpRequired) => (
            StatusCode::FORBIDDEN,
            super::account_factors::STEP_UP_FIRST.to_owned(),
        ),
        Err(EngineError::RateLimited { retry_after_secs }) => {
            retry_after = Some(retry_after_secs.max(1));
            (StatusCode::TOO_MANY_REQUESTS, THROTTLED.to_owned())
        }
        Err(other) => return Err(other.into()),
    };
    let mut response = render(&state, &p, status, None, Some(&error)).await?;
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
) -> Result<Response, PageError> {
    sign_out(&state, viewer.as_deref(), &caller).await
}

/// `GET /logout` never signs out (a link or an image must not end a session): it shows a
/// button that posts the form.
pub async fn logout_page(State(state): State<AppState>, Viewer(viewer): Viewer) -> Response {
    let Some(p) = viewer else {
        return see_other("/login");
    };
    let body = format!(
        "<h1>Sign out</h1>\n<p>Sign out of this browser?</p>\n{}\
         <p><a href=\"/account\">Back to your account</a></p>\n",
        logout_form(
            &csrf::token_for(&state.secrets.csrf, p.session_id),
            "Sign out"
        ),
    );
    page(&state, StatusCode::OK, "Sign out", &body)
}

/// Ends the current session (when there is one), clears the cookies and goes to the sign-in
/// page.
async fn sign_out(
    state: &AppState,
    p: Option<&Principal>,
    caller: &Caller,
) -> Result<Response, PageError> {
    let mut cookies = vec![state.web.cookies.clear(state.web.cookies.session, "/")];
    if let Some(p) = p {
        sessions::revoke(
            state,
            p.session_id,
            p.user_id,
            tessera_engine::AuditKind::Logout,
            Some(caller),
        )
        .await?;
        if p.method == AuthMethod::AccessToken {
            cookies.push(state.web.cookies.clear(state.web.cookies.access, "/"));
            cookies.push(state.web.cookies.clear(
                state.web.cookies.refresh,
                crate::cookies::REFRESH_COOKIE_PATH,
            ));
        }
    }
    Ok(with_cookies(see_other("/login"), cookies))
}

pub(super) async fn render(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let user = state
        .store
        .user_by_id(p.user_id)
        .await
        .map_err(ApiError::from)?;
    let email = user
        .as_ref()
        .map(|u| u.email.to_string())
        .unwrap_or_default();
    let verified = user.as_ref().is_some_and(|u| u.email_verified_at.is_some());
    let mut live = sessions::list_live(state, p.user_id).await?;
    // This device first, then the most recently active.
    live.sort_by_key(|s| (s.id != p.session_id, Reverse(s.last_seen_at)));
    let token = csrf::token_for(&state.secrets.csrf, p.session_id);
    let factors = tessera_engine::factors::summary(state, p.user_id).await?;
    let passkey_list = tessera_engine::factors::passkeys::list(state, p.user_id).await?;

    let rows: String = live
        .iter()
        .map(|s| session_row(s, s.id == p.session_id, &token))
        .collect();
    let others = if live.iter().any(|s| s.id != p.session_id) {
        format!(
            "<form method=\"post\" action=\"/account/sessions/revoke-others\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n\
             <button type=\"submit\">Sign out all other sessions</button>\n</form>\n",
            esc(&token)
        )
    } else {
        "<p class=\"muted\">No other sessions.</p>\n".to_owned()
    };
    let body = format!(
        "<h1>Your account</h1>\n{notice}{error}\
         <p>Signed in as <strong>{email}</strong>.</p>\n{logout}\
         <h2>Sessions</h2>\n<table>\n<thead><tr><th>Device</th><th>IP address</th>\
         <th>Last seen</th><th></th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n{others}\
         <h2>Change password</h2>\n\
         <p class=\"muted\">Changing your password signs out every other session.</p>\n\
         <form method=\"post\" action=\"/account/password\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <input type=\"text\" name=\"username\" value=\"{email}\" autocomplete=\"username\" hidden>\n\
         <label for=\"current_password\">Current password</label>\n\
         <input id=\"current_password\" type=\"password\" name=\"current_password\" \
         autocomplete=\"current-password\" required>\n\
         <label for=\"new_password\">New password</label>\n\
         <input id=\"new_password\" type=\"password\" name=\"new_password\" \
         autocomplete=\"new-password\" required>\n\
         <button type=\"submit\">Change password</button>\n</form>\n{factors_section}{passkeys_section}{email_section}",
        notice = message("notice", notice),
        error = message("error", error),
        email = esc(&email),
        logout = logout_form(&token, "Sign out"),
        token = esc(&token),
        factors_section = super::account_factors::section(&factors, &token),
        passkeys_section = if state.webauthn.is_some() {
            super::account_passkeys::section(&passkey_list, &token)
        } else {
            String::new()
        },
        email_section = super::email::account_section(&email, verified, &token),
    );
    Ok(page(state, status, "Your account", &body))
}

fn session_row(s: &Session, current: bool, token: &str) -> String {
    let device = s.user_agent.as_deref().unwrap_or("Unknown device");
    let marker = if current {
        " <span class=\"tag\">this device</span>"
    } else {
        ""
    };
    let kind = match s.kind {
        SessionKind::Cookie => "browser session",
        SessionKind::Header => "session token",
        SessionKind::Token => "app (refresh token)",
    };
    let action = if current {
        // Signing out the session in use is a logout: same form, same outcome.
        "/logout".to_owned()
    } else {
        format!("/account/sessions/{}/revoke", s.id)
    };
    format!(
        "<tr><td>{device}{marker}<div class=\"muted\">{kind} · signed in {created}</div></td>\
         <td>{ip}</td><td>{last_seen}</td><td>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
         <button type=\"submit\">Sign out</button></form></td></tr>\n",
        device = esc(device),
        kind = esc(kind),
        created = esc(&when(s.created_at)),
        ip = esc(s.ip.as_deref().unwrap_or("unknown")),
        last_seen = esc(&when(s.last_seen_at)),
        action = esc(&action),
        token = esc(token),
    )
}

fn logout_form(token: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/logout\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n\
         <button type=\"submit\">{}</button>\n</form>\n",
        esc(token),
        esc(label)
    )
}

/// `2026-11-25 12:55 UTC`.
fn when(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}
