//! The passkeys section of `/account`: the list with rename and delete forms (no JavaScript
//! needed), and the "Add a passkey" button, which needs WebAuthn and so `/passkeys.js`.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_engine::factors::passkeys::{self, PasskeyInfo};
use tessera_engine::EngineError;

use super::account::render;
use super::html::esc;
use super::{see_other, PageError, PageForm, Viewer};
use crate::extract::Caller;
use crate::routes::views::rfc3339;
use crate::state::AppState;

const SIGN_IN: &str = "/login?return_to=/account";

/// `GET /passkeys.js`: the pages' WebAuthn script, a static file.
pub async fn script() -> Response {
    let mut response = include_str!("../../../assets/passkeys.js").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The section of the account page.
pub(super) fn section(found: &[PasskeyInfo], token: &str) -> String {
    let token = esc(token);
    let mut rows = String::new();
    for p in found {
        let id = p.id;
        let _ = writeln!(
            rows,
            "<tr><td>{name}</td><td>{created}</td><td>{used}</td><td>\
             <form method=\"post\" action=\"/account/passkeys/{id}/rename\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
             <input type=\"text\" name=\"name\" value=\"{name}\" maxlength=\"64\" required \
             aria-label=\"New name\"> <button type=\"submit\">Rename</button></form>\
             <form method=\"post\" action=\"/account/passkeys/{id}/delete\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
             <button type=\"submit\">Delete</button></form></td></tr>",
            name = esc(&p.name),
            created = esc(&rfc3339(p.created_at)),
            used = p
                .last_used_at
                .map_or_else(|| "never".to_owned(), |t| esc(&rfc3339(t)).to_string()),
        );
    }
    let list = if found.is_empty() {
        "<p class=\"muted\">None yet. A passkey signs you in without a password, and counts as \
         a second step after one.</p>\n"
            .to_owned()
    } else {
        format!(
            "<table>\n<thead><tr><th>Name</th><th>Added</th><th>Last used</th><th></th></tr>\
             </thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
        )
    };
    format!(
        "<h2>Passkeys</h2>\n{list}\
         <p id=\"passkey-status\" class=\"error\" role=\"alert\" hidden></p>\n\
         <label for=\"passkey-name\">Name of a new passkey</label>\n\
         <input id=\"passkey-name\" type=\"text\" maxlength=\"64\" value=\"Passkey\">\n\
         <button type=\"button\" id=\"passkey-add\" data-csrf=\"{token}\" hidden>Add a passkey\
         </button>\n<noscript><p class=\"muted\">Adding a passkey needs JavaScript.</p></noscript>\n\
         <script src=\"/passkeys.js\" defer></script>\n"
    )
}

#[derive(Debug, Deserialize)]
pub struct NameField {
    name: String,
}

/// `POST /account/passkeys/{id}/rename`.
pub async fn rename(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    PageForm(form): PageForm<NameField>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let id = id.parse().map_err(|_| PageError::NOT_FOUND)?;
    match passkeys::rename(&state, &p, id, &form.name).await {
        Ok(()) => Ok(see_other("/account?done=passkey_renamed")),
        Err(err) => refused(&state, &p, err).await,
    }
}

/// `POST /account/passkeys/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(p) = viewer else {
        return Ok(see_other(SIGN_IN));
    };
    let id = id.parse().map_err(|_| PageError::NOT_FOUND)?;
    match passkeys::delete(&state, &p, id, &caller).await {
        Ok(()) => Ok(see_other("/account?done=passkey_deleted")),
        Err(err) => refused(&state, &p, err).await,
    }
}

async fn refused(
    state: &AppState,
    p: &crate::auth::Principal,
    err: EngineError,
) -> Result<Response, PageError> {
    let (status, text) = match err {
        EngineError::StepUpRequired => (
            StatusCode::FORBIDDEN,
            "Confirm it is you under \u{201c}Two-step verification\u{201d} first.",
        ),
        EngineError::Invalid(_) => (
            StatusCode::BAD_REQUEST,
            "A passkey's name is 1 to 64 characters.",
        ),
        EngineError::NotFound => (StatusCode::NOT_FOUND, "That passkey is already gone."),
        other => return Err(other.into()),
    };
    render(state, p, status, None, Some(text)).await
}
