//! `GET /signup` and `POST /signup`, served only when `signup.enabled` (404 otherwise).
//!
//! A new account is signed in straight away (a new cookie session, as `POST /login` would open)
//! and sent on to `return_to` or `/account`. Policy errors re-render the form with the message.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::SessionKind;

use super::html::{esc, message};
use super::login::{signed_in, url_encode};
use super::{
    cross_origin, form_csrf, kept_return_to, page, query_param, return_to, see_other, with_cookies,
    CredentialsForm, PageError, PageForm,
};
use tessera_engine::EngineError;

use crate::extract::Caller;
use crate::state::AppState;
use tessera_engine::{accounts, sessions};

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    if !state.web.config.signup.enabled {
        return Err(PageError::NOT_FOUND);
    }
    let return_to = kept_return_to(
        &state,
        query_param(query.as_deref(), "return_to").as_deref(),
    );
    Ok(render(
        &state,
        &headers,
        StatusCode::OK,
        "",
        return_to.as_deref(),
        None,
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<CredentialsForm>,
) -> Result<Response, PageError> {
    if !state.web.config.signup.enabled {
        return Err(PageError::NOT_FOUND);
    }
    if cross_origin(&state, &headers)
        || !form_csrf::verify(&state, &headers, form.csrf_token.as_deref())
    {
        return Err(PageError::FORBIDDEN);
    }
    let return_to = kept_return_to(&state, form.return_to.as_deref());
    let created = accounts::create_user(&state, &form.email, &form.password, Some(&caller)).await;
    let (status, error) = match created {
        Ok(_) => {
            // Through the ordinary login path: same audit event, throttles and session rules.
            let login = sessions::login(
                &state,
                &form.email,
                &form.password,
                SessionKind::Cookie,
                None,
                &caller,
            )
            .await;
            return match login {
                Ok(login) => {
                    let to = return_to.as_deref().unwrap_or(return_to::DEFAULT);
                    signed_in(&state, &headers, &caller, &login, to).await
                }
                // Created but not signed in (throttled, say): the sign-in page takes over.
                Err(_) => Ok(see_other("/login")),
            };
        }
        // Policy violations: the validation text names the rule, never the submitted value.
        Err(EngineError::Invalid(text)) => (StatusCode::BAD_REQUEST, text),
        Err(EngineError::Conflict(text)) => (StatusCode::CONFLICT, text.to_owned()),
        Err(other) => return Err(other.into()),
    };
    Ok(render(
        &state,
        &headers,
        status,
        &form.email,
        return_to.as_deref(),
        Some(&error),
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
    let login_href = return_to.map_or_else(
        || "/login".to_owned(),
        |r| format!("/login?return_to={}", url_encode(r)),
    );
    let body = format!(
        "<h1>Create an account</h1>\n{error}<form method=\"post\" action=\"/signup\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n{hidden_return_to}\
         <label for=\"email\">Email</label>\n\
         <input id=\"email\" type=\"text\" inputmode=\"email\" name=\"email\" value=\"{email}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"new-password\" \
         minlength=\"{min}\" maxlength=\"128\" required>\n\
         <p class=\"muted\">At least {min} characters.</p>\n\
         <button type=\"submit\">Create account</button>\n</form>\n\
         <p class=\"muted\">Already have an account? <a href=\"{login_href}\">Sign in</a>.</p>\n",
        error = message("error", error),
        token = esc(&issued.token),
        email = esc(email),
        min = state.web.config.password.min_length,
        login_href = esc(&login_href),
    );
    with_cookies(
        page(state, status, "Create an account", &body),
        issued.set_cookie,
    )
}
