//! The e-mail pages: `/forgot` (ask for a reset link), `/reset` (set a new password with it),
//! `/verify` (use a verification or change-of-address link), and the address part of
//! `/account`. `/reset` and `/verify` never act on a GET — mail scanners fetch links — they show
//! a form that posts the token back. Public forms use the pre-session CSRF token of
//! [`form_csrf`]; the account form the session's.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::html::{esc, message};
use super::{
    account, cross_origin, form_csrf, page, query_param, see_other, with_cookies, PageError,
    PageForm, Viewer,
};
use crate::extract::Caller;
use crate::state::AppState;
use tessera_engine::verification::{self, Confirmed};
use tessera_engine::{recovery, EngineError};

const SENT: &str = "If an account uses that address, we sent it a link to choose a new \
                    password. The link works once and expires soon.";

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    email: String,
    token: String,
    new_password: String,
    current_password: String,
    new_email: String,
    csrf_token: Option<String>,
}

impl std::fmt::Debug for LinkForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkForm(<redacted>)")
    }
}

fn public_form_ok(state: &AppState, headers: &HeaderMap, form: &LinkForm) -> bool {
    !cross_origin(state, headers) && form_csrf::verify(state, headers, form.csrf_token.as_deref())
}

/// The message shown for an engine error on a public form, or the error page.
fn shown(err: EngineError) -> Result<(StatusCode, String), PageError> {
    match err {
        EngineError::Invalid(text) => Ok((StatusCode::BAD_REQUEST, text)),
        EngineError::Conflict(text) => Ok((StatusCode::CONFLICT, text.to_owned())),
        EngineError::RateLimited { .. } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            super::login::THROTTLED.to_owned(),
        )),
        other => Err(other.into()),
    }
}

fn public_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    body: impl FnOnce(&str) -> String,
) -> Response {
    let issued = form_csrf::issue(state, headers);
    let body = body(&esc(&issued.token).to_string());
    with_cookies(page(state, status, title, &body), issued.set_cookie)
}

pub async fn forgot_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    forgot(&state, &headers, StatusCode::OK, None, None)
}

pub async fn forgot_submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    if !public_form_ok(&state, &headers, &form) {
        return Err(PageError::FORBIDDEN);
    }
    Ok(
        match recovery::request_password_reset(&state, &form.email, &caller).await {
            Ok(()) => forgot(&state, &headers, StatusCode::OK, Some(SENT), None),
            Err(err) => {
                let (status, text) = shown(err)?;
                forgot(&state, &headers, status, None, Some(&text))
            }
        },
    )
}

fn forgot(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    public_page(state, headers, status, "Forgot your password", |token| {
        format!(
            "<h1>Forgot your password?</h1>\n{notice}{error}\
             <form method=\"post\" action=\"/forgot\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
             <label for=\"email\">Email</label>\n\
             <input id=\"email\" type=\"text\" inputmode=\"email\" name=\"email\" \
             autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\n\
             <button type=\"submit\">Send me a link</button>\n</form>\n\
             <p class=\"muted\"><a href=\"/login\">Back to sign in</a></p>\n",
            notice = message("notice", notice),
            error = message("error", error),
        )
    })
}

pub async fn reset_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query_param(query.as_deref(), "token").unwrap_or_default();
    reset(&state, &headers, StatusCode::OK, &token, None)
}

pub async fn reset_submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    if !public_form_ok(&state, &headers, &form) {
        return Err(PageError::FORBIDDEN);
    }
    match recovery::reset_password(&state, &form.token, &form.new_password, &caller).await {
        Ok(_) => Ok(done(
            &state,
            "Password changed",
            "Your password was changed and every session was signed out.",
        )),
        Err(err) => {
            let (status, text) = shown(err)?;
            Ok(reset(&state, &headers, status, &form.token, Some(&text)))
        }
    }
}

fn reset(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    link_token: &str,
    error: Option<&str>,
) -> Response {
    let min = state.web.config.password.min_length;
    public_page(state, headers, status, "Choose a new password", |token| {
        format!(
            "<h1>Choose a new password</h1>\n{error}\
             <form method=\"post\" action=\"/reset\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{link}\">\n\
             <label for=\"new_password\">New password</label>\n\
             <input id=\"new_password\" type=\"password\" name=\"new_password\" \
             autocomplete=\"new-password\" minlength=\"{min}\" maxlength=\"128\" required autofocus>\n\
             <p class=\"muted\">At least {min} characters. Every session will be signed out.</p>\n\
             <button type=\"submit\">Set password</button>\n</form>\n\
             <p class=\"muted\"><a href=\"/forgot\">Ask for a new link</a></p>\n",
            error = message("error", error),
            link = esc(link_token),
        )
    })
}

pub async fn verify_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let link = query_param(query.as_deref(), "token").unwrap_or_default();
    verify(&state, &headers, StatusCode::OK, &link, None)
}

pub async fn verify_submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    if !public_form_ok(&state, &headers, &form) {
        return Err(PageError::FORBIDDEN);
    }
    match verification::confirm(&state, &form.token, &caller).await {
        Ok(Confirmed::Verified(email)) => Ok(done(
            &state,
            "Address confirmed",
            &format!("Thank you: {email} is confirmed."),
        )),
        Ok(Confirmed::EmailChanged(email)) => Ok(done(
            &state,
            "Address changed",
            &format!("Your account now uses {email}."),
        )),
        Err(err) => {
            let (status, text) = shown(err)?;
            Ok(verify(&state, &headers, status, &form.token, Some(&text)))
        }
    }
}

fn verify(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    link_token: &str,
    error: Option<&str>,
) -> Response {
    public_page(state, headers, status, "Confirm your address", |token| {
        format!(
            "<h1>Confirm your address</h1>\n{error}\
             <form method=\"post\" action=\"/verify\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{link}\">\n\
             <button type=\"submit\">Confirm</button>\n</form>\n",
            error = message("error", error),
            link = esc(link_token),
        )
    })
}

fn done(state: &AppState, title: &str, text: &str) -> Response {
    let body = format!(
        "<h1>{}</h1>\n{}<p><a href=\"/login\">Sign in</a></p>\n",
        esc(title),
        message("notice", Some(text))
    );
    page(state, StatusCode::OK, title, &body)
}

/// The address part of `/account`: the address, whether it is confirmed, and the change form.
pub fn account_section(email: &str, verified: bool, csrf_token: &str) -> String {
    let state = if verified {
        "confirmed"
    } else {
        "not confirmed yet"
    };
    format!(
        "<h2>Email address</h2>\n<p>{email} <span class=\"tag\">{state}</span></p>\n\
         <p class=\"muted\">We send a link to the new address; the change happens when you open \
         it, and the old address is told.</p>\n\
         <form method=\"post\" action=\"/account/email\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <label for=\"new_email\">New address</label>\n\
         <input id=\"new_email\" type=\"text\" inputmode=\"email\" name=\"new_email\" \
         autocapitalize=\"none\" spellcheck=\"false\" required>\n\
         <label for=\"email_current_password\">Current password</label>\n\
         <input id=\"email_current_password\" type=\"password\" name=\"current_password\" \
         autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Change address</button>\n</form>\n",
        email = esc(email),
        token = esc(csrf_token),
    )
}

/// `POST /account/email`: behind the session CSRF layer like the other account forms.
pub async fn change_email(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
    PageForm(form): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other("/login?return_to=/account"));
    };
    let result = verification::request_email_change(
        &state,
        p.user_id,
        p.session_id,
        &form.new_email,
        &form.current_password,
        &caller,
    )
    .await;
    let (status, text) = match result {
        Ok(()) => return Ok(see_other("/account?done=email")),
        Err(EngineError::Forbidden(_)) => (
            StatusCode::FORBIDDEN,
            "The current password is incorrect. Your address was not changed.".to_owned(),
        ),
        Err(err) => shown(err)?,
    };
    account::render(&state, &p, status, None, Some(&text)).await
}
