//! The sign-in page's second step (`POST /login/mfa`): after a correct password for an account
//! with a second factor, a form for the code. The pending step's token rides in a hidden field
//! of that form (the page is `no-store`); it can do nothing but complete this step.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tessera_core::SessionKind;
use tessera_engine::factors::{challenge, Proof};
use tessera_engine::EngineError;

use super::html::{esc, message};
use super::login::{signed_in, THROTTLED};
use super::{cross_origin, form_csrf, kept_return_to, page, return_to, PageError, PageForm};
use crate::extract::Caller;
use crate::state::AppState;

const FAILED: &str = "That code is not right, or this sign-in has expired.";

/// The fields of the second step's form. `Debug` leaves the secrets out.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct CodeForm {
    pub mfa_token: String,
    pub code: String,
    pub csrf_token: Option<String>,
    pub return_to: Option<String>,
}

impl std::fmt::Debug for CodeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeForm")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// Six digits are an authenticator code; anything else is tried as a recovery code.
fn proof_of(code: &str) -> Proof {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Proof::totp(code)
    } else {
        Proof::recovery_code(code)
    }
}

pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    if cross_origin(&state, &headers)
        || !form_csrf::verify(&state, &headers, form.csrf_token.as_deref())
    {
        return Err(PageError::FORBIDDEN);
    }
    let return_to = kept_return_to(&state, form.return_to.as_deref());
    let login = challenge::complete_session_login(
        &state,
        &form.mfa_token,
        proof_of(&form.code),
        SessionKind::Cookie,
        &caller,
    )
    .await;
    let again = |status, error| {
        render(
            &state,
            &headers,
            status,
            &form.mfa_token,
            return_to.as_deref(),
            Some(error),
        )
    };
    match login {
        Ok(login) => {
            let to = return_to.as_deref().unwrap_or(return_to::DEFAULT);
            signed_in(&state, &headers, &caller, &login, to).await
        }
        Err(EngineError::InvalidGrant) => Ok(again(StatusCode::UNAUTHORIZED, FAILED)),
        Err(EngineError::RateLimited { retry_after_secs }) => {
            let mut response = again(StatusCode::TOO_MANY_REQUESTS, THROTTLED);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

/// The second step's form.
pub(super) fn render(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    mfa_token: &str,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Response {
    let issued = form_csrf::issue(state, headers);
    let hidden_return_to = return_to.map_or_else(String::new, |r| {
        format!(
            "<input type=\"hidden\" name=\"return_to\" value=\"{}\">\n",
            esc(r)
        )
    });
    let body = format!(
        "<h1>Two-step verification</h1>\n{error}\
         <form method=\"post\" action=\"/login/mfa\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
         <input type=\"hidden\" name=\"mfa_token\" value=\"{mfa_token}\">\n{hidden_return_to}\
         <label for=\"code\">Code from your authenticator app, or a recovery code</label>\n\
         <input id=\"code\" type=\"text\" name=\"code\" inputmode=\"text\" \
         autocomplete=\"one-time-code\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\n\
         <button type=\"submit\">Verify</button>\n</form>\n{passkey}\
         <p class=\"muted\"><a href=\"/login\">Start again</a></p>\n",
        passkey = if state.webauthn.is_some() {
            // Hidden until the script finds WebAuthn; the code form works without it.
            "<p id=\"passkey-status\" class=\"error\" role=\"alert\" hidden></p>\n\
             <button type=\"button\" id=\"passkey-second-step\" hidden>Use a passkey instead\
             </button>\n<script src=\"/passkeys.js\" defer></script>\n"
        } else {
            ""
        },
        error = message("error", error),
        token = esc(&issued.token),
        mfa_token = esc(mfa_token),
    );
    super::with_cookies(
        page(state, status, "Two-step verification", &body),
        issued.set_cookie,
    )
}
