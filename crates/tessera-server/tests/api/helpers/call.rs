//! `Call`: one request to the test server, built by a `TestApp` endpoint method. Awaiting it
//! sends it; the builder methods add what a particular test needs on top of the endpoint's
//! defaults (a CSRF token, an origin, a forwarded address, raw headers).

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use reqwest::header::{HeaderValue, COOKIE};
use reqwest::{Body, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;

/// The credential a request presents, always passed explicitly.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// A whole `Cookie` header value: `name=value` pairs.
    Cookie(&'a str),
    /// `Authorization: Bearer …`: a session token, an access token or the admin key.
    Bearer(&'a str),
    /// `Authorization: Basic …` of a registered client: (client id, client secret).
    Basic(&'a str, &'a str),
}

/// A request not sent yet. `.await` sends it and yields the response.
#[must_use = "a Call sends nothing until it is awaited"]
pub struct Call(RequestBuilder);

impl Call {
    pub(super) fn new(request: RequestBuilder) -> Self {
        Self(request)
    }

    pub fn auth(self, auth: Auth<'_>) -> Self {
        Self(match auth {
            Auth::None => self.0,
            Auth::Cookie(cookie) => self.0.header(COOKIE, cookie),
            Auth::Bearer(token) => self.0.bearer_auth(token),
            Auth::Basic(id, secret) => self.0.basic_auth(id, Some(secret)),
        })
    }

    pub fn header(self, name: &str, value: &str) -> Self {
        Self(self.0.header(name, value))
    }

    /// A header whose value need not be text (obs-text bytes and the like).
    pub fn header_value(self, name: &str, value: HeaderValue) -> Self {
        Self(self.0.header(name, value))
    }

    pub fn csrf(self, token: &str) -> Self {
        self.header("x-csrf-token", token)
    }

    pub fn origin(self, origin: &str) -> Self {
        self.header("origin", origin)
    }

    /// The client address a trusted proxy reports.
    pub fn forwarded_for(self, ip: &str) -> Self {
        self.header("x-forwarded-for", ip)
    }

    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        Self(self.0.query(query))
    }

    pub fn form<T: Serialize + ?Sized>(self, form: &T) -> Self {
        Self(self.0.form(form))
    }

    pub fn json_body<T: Serialize + ?Sized>(self, body: &T) -> Self {
        Self(self.0.json(body))
    }

    /// A body sent as is, with no content type unless the test sets one.
    pub fn body(self, body: impl Into<Body>) -> Self {
        Self(self.0.body(body))
    }

    /// A second copy of this request, to send again.
    pub fn try_clone(&self) -> Self {
        Self(self.0.try_clone().expect("a request with a cloneable body"))
    }

    /// Sends it; `Err` only when the server did not answer (stopped, refused the connection).
    pub async fn try_send(self) -> reqwest::Result<Response> {
        self.0.send().await
    }

    pub async fn status(self) -> StatusCode {
        self.await.status()
    }

    /// The response body as JSON, whatever the status.
    pub async fn json(self) -> Value {
        self.await.json().await.expect("a JSON body")
    }

    pub async fn text(self) -> String {
        self.await.text().await.expect("a text body")
    }
}

impl IntoFuture for Call {
    type Output = Response;
    type IntoFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.0.send().await.expect("the server answers") })
    }
}
