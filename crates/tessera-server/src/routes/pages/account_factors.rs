//! The two-step verification part of `/account`: set up TOTP (QR code and key, then the first
//! code), see how many recovery codes are left, get new ones, prove a code again for sensitive
//! actions (step-up), and turn it off. Every POST here passed the session CSRF layer.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_engine::factors::{self, Proof, Summary};
use tessera_engine::EngineError;

use super::account::render;
use super::html::{esc, message};
use super::login::THROTTLED;
use super::{page, see_other, PageError, PageForm, Viewer};
use crate::csrf;
use crate::extract::Caller;
use crate::routes::qr;
use crate::state::AppState;

const SIGN_IN: &str = "/login?return_to=/account";
pub(super) const STEP_UP_FIRST: &str =
    "Enter a code from your authenticator app under \u{201c}Two-step verification\u{201d} first.";
const WRONG_CODE: &str = "That code is not right. Try the next one your app shows.";

/// The section of the account page.
pub(super) fn section(summary: &Summary, token: &str) -> String {
    let token = esc(token);
    // Passkeys alone make `enabled()` true too; this section is about TOTP.
    if summary
        .totp
        .as_ref()
        .is_none_or(|t| t.confirmed_at.is_none())
    {
        return format!(
            "<h2>Two-step verification</h2>\n\
             <p class=\"muted\">Off. With it on, signing in also asks for a code from an \
             authenticator app.</p>\n\
             <form method=\"post\" action=\"/account/totp\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
             <button type=\"submit\">Set up an authenticator app</button>\n</form>\n"
        );
    }
    format!(
        "<h2>Two-step verification</h2>\n\
         <p>On: signing in asks for a code from your authenticator app. \
         <strong>{left}</strong> recovery codes left.</p>\n\
         <p class=\"muted\">Removing it, new recovery codes, a new password and signing out \
         everywhere need a fresh code:</p>\n\
         <form method=\"post\" action=\"/account/step-up\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <label for=\"step_up_code\">Code</label>\n\
         <input id=\"step_up_code\" type=\"text\" name=\"code\" autocomplete=\"one-time-code\" required>\n\
         <button type=\"submit\">Confirm it is you</button>\n</form>\n\
         <form method=\"post\" action=\"/account/recovery-codes\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <button type=\"submit\">New recovery codes</button>\n</form>\n\
         <form method=\"post\" action=\"/account/totp/remove\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <button type=\"submit\">Turn off two-step verification</button>\n</form>\n",
        left = summary.recovery_codes_left,
    )
}

/// `POST /account/totp`: a new key, shown as a QR code and as text, and the form for the
/// first code.
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let enrolment = match factors::start_totp(&state, &p, &caller).await {
        Ok(enrolment) => enrolment,
        Err(EngineError::Conflict(text)) => {
            return render(&state, &p, StatusCode::CONFLICT, None, Some(text)).await;
        }
        Err(other) => return Err(other.into()),
    };
    let svg = qr::svg(&enrolment.otpauth_uri).unwrap_or_default();
    let token = csrf::token_for(&state.secrets.csrf, p.session_id);
    Ok(confirm_page(
        &state,
        StatusCode::OK,
        &svg,
        &enrolment.secret,
        &token,
        None,
    ))
}

fn confirm_page(
    state: &AppState,
    status: StatusCode,
    svg: &str,
    secret: &str,
    token: &str,
    error: Option<&str>,
) -> Response {
    // The SVG is generated here from the URI (no user text in it).
    let key = if secret.is_empty() {
        String::new()
    } else {
        format!(
            "{svg}\n<p>Or type this key: <code>{}</code></p>\n",
            esc(secret)
        )
    };
    let body = format!(
        "<h1>Set up an authenticator app</h1>\n{error}\
         <p>Scan the code with your authenticator app, then enter the six digits it shows.</p>\n\
         {key}<form method=\"post\" action=\"/account/totp/confirm\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <label for=\"code\">Code</label>\n\
         <input id=\"code\" type=\"text\" name=\"code\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" required autofocus>\n\
         <button type=\"submit\">Turn on</button>\n</form>\n\
         <p><a href=\"/account\">Cancel</a></p>\n",
        error = message("error", error),
        token = esc(token),
    );
    page(state, status, "Set up an authenticator app", &body)
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CodeField {
    code: String,
}

impl std::fmt::Debug for CodeField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeField(<redacted>)")
    }
}

/// `POST /account/totp/confirm`: turns TOTP on and shows the recovery codes, once.
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
    PageForm(form): PageForm<CodeField>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let token = csrf::token_for(&state.secrets.csrf, p.session_id);
    match factors::confirm_totp(&state, &p, &form.code, &caller).await {
        Ok(codes) => Ok(codes_page(&state, &codes)),
        Err(EngineError::InvalidGrant) => Ok(confirm_page(
            &state,
            StatusCode::BAD_REQUEST,
            "",
            "",
            &token,
            Some(WRONG_CODE),
        )),
        Err(EngineError::RateLimited { .. }) => Ok(confirm_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            "",
            "",
            &token,
            Some(THROTTLED),
        )),
        Err(EngineError::Conflict(text)) => {
            render(&state, &p, StatusCode::CONFLICT, None, Some(text)).await
        }
        Err(other) => Err(other.into()),
    }
}

fn codes_page(state: &AppState, codes: &[String]) -> Response {
    let mut items = String::new();
    for code in codes {
        let _ = writeln!(items, "<li><code>{}</code></li>", esc(code));
    }
    let body = format!(
        "<h1>Your recovery codes</h1>\n\
         <p>Keep these somewhere safe. Each one signs you in once if you lose your \
         authenticator app. They are shown only now.</p>\n<ul>\n{items}</ul>\n\
         <p><a href=\"/account\">Back to your account</a></p>\n"
    );
    page(state, StatusCode::OK, "Your recovery codes", &body)
}

/// `POST /account/recovery-codes`: a new set (the old one stops working).
pub async fn regenerate(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    match factors::regenerate_recovery_codes(&state, &p, &caller).await {
        Ok(codes) => Ok(codes_page(&state, &codes)),
        Err(err) => refused(&state, &p, err).await,
    }
}

/// `POST /account/totp/remove`.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    match factors::remove_totp(&state, &p, &caller).await {
        Ok(()) => Ok(see_other("/account?done=totp_removed")),
        Err(err) => refused(&state, &p, err).await,
    }
}

/// `POST /account/step-up`.
pub async fn step_up(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
    PageForm(form): PageForm<CodeField>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    match factors::step_up(&state, &p, Proof::totp(&form.code), &caller).await {
        Ok(()) => Ok(see_other("/account?done=stepped_up")),
        Err(EngineError::InvalidGrant) => {
            render(&state, &p, StatusCode::BAD_REQUEST, None, Some(WRONG_CODE)).await
        }
        Err(err) => refused(&state, &p, err).await,
    }
}

/// The account page with what went wrong, for the refusals a user can act on.
async fn refused(
    state: &AppState,
    p: &crate::auth::Principal,
    err: EngineError,
) -> Result<Response, PageError> {
    let (status, text) = match err {
        EngineError::StepUpRequired => (StatusCode::FORBIDDEN, STEP_UP_FIRST),
        EngineError::Conflict(text) => (StatusCode::CONFLICT, text),
        EngineError::NotFound => (
            StatusCode::NOT_FOUND,
            "Two-step verification is already off.",
        ),
        EngineError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, THROTTLED),
        other => return Err(other.into()),
    };
    render(state, p, status, None, Some(text)).await
}
