//! `GET /login` and `POST /login`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tessera_core::SessionKind;

use super::html::{esc, message};
use super::{
    cross_origin, form_csrf, kept_return_to, page, query_param, return_to, see_other, with_cookies,
    CredentialsForm, PageError, PageForm,
};
use crate::cookies;
use tessera_engine::EngineError;

use crate::extract::Caller;
use crate::routes::session::session_cookie;
use crate::state::AppState;
use tessera_engine::sessions;

/// One message for an unknown email, a wrong password and a locked account.
const FAILED: &str = "The email or password is incorrect.";
pub(super) const THROTTLED: &str = "Too many attempts. Wait a minute and try again.";

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let return_to = kept_return_to(
        &state,
        query_param(query.as_deref(), "return_to").as_deref(),
    );
    render(
        &state,
        &headers,
        StatusCode::OK,
        "",
        return_to.as_deref(),
        None,
    )
}

pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<CredentialsForm>,
) -> Result<Response, PageError> {
    // Login CSRF: a foreign page must not sign this browser into the attacker's account.
    if cross_origin(&state, &headers)
        || !form_csrf::verify(&state, &headers, form.csrf_token.as_deref())
    {
        return Err(PageError::FORBIDDEN);
    }
    let return_to = kept_return_to(&state, form.return_to.as_deref());
    let login = sessions::login(
        &state,
        &form.email,
        &form.password,
        SessionKind::Cookie,
        None,
        &caller,
    )
    .await;
    match login {
        Ok(login) => {
            let to = return_to.as_deref().unwrap_or(return_to::DEFAULT);
            signed_in(&state, &headers, &caller, &login, to).await
        }
        Err(EngineError::SecondFactorRequired(challenge)) => Ok(super::login_mfa::render(
            &state,
            &headers,
            StatusCode::OK,
            challenge.token.expose(),
            return_to.as_deref(),
            None,
        )),
        Err(EngineError::InvalidGrant) => Ok(render(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            &form.email,
            return_to.as_deref(),
            Some(FAILED),
        )),
        Err(EngineError::RateLimited { retry_after_secs }) => {
            let mut response = render(
                &state,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                return_to.as_deref(),
                Some(THROTTLED),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

/// The 303 after a successful sign-in: the session cookie (exactly as `POST /v1/session` sets
/// it), the spent pre-session cookie expired, and on to `to`, which the caller has validated.
/// The session whose cookie the browser sent, if live, ends as with `POST /v1/session`.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    login: &sessions::Login,
    to: &str,
) -> Result<Response, PageError> {
    let replaced = cookies::read(headers, state.web.cookies.session);
    sessions::end_replaced(state, replaced.as_deref(), login.session.id, caller).await?;
    let cookie = session_cookie(state, &login.session, &login.secret);
    Ok(with_cookies(
        see_other(to),
        [cookie, form_csrf::clear(state)],
    ))
}

fn render(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
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
    let signup_link = if state.web.config.signup.enabled {
        let href = return_to.map_or_else(
            || "/signup".to_owned(),
            |r| format!("/signup?return_to={}", url_encode(r)),
        );
        format!(
            "<p class=\"muted\">No account yet? <a href=\"{}\">Create one</a>.</p>\n",
            esc(&href)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Sign in</h1>\n{error}<form method=\"post\" action=\"/login\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n{hidden_return_to}\
         <label for=\"email\">Email</label>\n\
         <input id=\"email\" type=\"text\" inputmode=\"email\" name=\"email\" value=\"{email}\" \
         autocomplete=\"username webauthn\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n{passkey}{signup_link}",
        passkey = if state.webauthn.is_some() {
            // Hidden until the script finds WebAuthn: without JavaScript the page is unchanged.
            "<p id=\"passkey-status\" class=\"error\" role=\"alert\" hidden></p>\n\
             <button type=\"button\" id=\"passkey-login\" hidden>Sign in with a passkey</button>\n\
             <script src=\"/passkeys.js\" defer></script>\n"
        } else {
            ""
        },
        error = message("error", error),
        token = esc(&issued.token),
        email = esc(email),
    );
    with_cookies(page(state, status, "Sign in", &body), issued.set_cookie)
}

/// Percent-encodes a query value (`application/x-www-form-urlencoded`).
pub(super) fn url_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
