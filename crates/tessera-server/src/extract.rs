//! Request extractors that turn every malformed input into the API's JSON error instead of
//! axum's plain-text rejections.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A request body that may be JSON or `application/x-www-form-urlencoded`, chosen by the
/// `Content-Type` header. Malformed bodies give 400 `invalid_request`, other content types 415,
/// oversized bodies 413.
#[derive(Debug)]
pub struct Input<T>(pub T);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Form,
}

fn body_format(headers: &HeaderMap) -> Result<BodyFormat, ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        e if e.starts_with("application/") && e.ends_with("+json") => Ok(BodyFormat::Json),
        "application/x-www-form-urlencoded" => Ok(BodyFormat::Form),
        "" => Err(ApiError::UnsupportedMediaType(
            "send Content-Type: application/json",
        )),
        _ => Err(ApiError::UnsupportedMediaType(
            "expected application/json or application/x-www-form-urlencoded",
        )),
    }
}

impl<S, T> FromRequest<S> for Input<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let format = body_format(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest("could not read the request body".into())
            }
        })?;
        parse_as(format, &bytes).map(Input)
    }
}

/// The whole of `Input<T>` after the body is read: format from `Content-Type`, then parse.
pub(crate) fn parse_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    parse_as(body_format(headers)?, bytes)
}

fn parse_as<T: DeserializeOwned>(format: BodyFormat, bytes: &[u8]) -> Result<T, ApiError> {
    match format {
        BodyFormat::Json => parse_json(bytes),
        BodyFormat::Form => parse_form(bytes),
    }
}

/// Describes what is wrong without echoing the submitted value, which may be a password.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = match inner.classify() {
            serde_json::error::Category::Data => describe_data_error(&path, &inner.to_string()),
            _ => "the body is not valid JSON".to_owned(),
        };
        ApiError::InvalidRequest(message)
    })?;
    de.end()
        .map_err(|_| ApiError::InvalidRequest("unexpected data after the JSON body".into()))?;
    Ok(value)
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::InvalidRequest(describe_data_error(&path, &e.into_inner().to_string()))
    })
}

fn describe_data_error(path: &str, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = rest.split_whitespace().next().unwrap_or(rest);
        return format!("missing field {field}");
    }
    if message.starts_with("unknown variant") || message.starts_with("unknown field") {
        // Safe: these name the expected variants, not the submitted value.
        return format!(
            "{path}: {}",
            message.split(" at line").next().unwrap_or(message)
        );
    }
    if path == "." || path.is_empty() {
        return "the body has the wrong shape".to_owned();
    }
    // Validation errors from our newtypes carry safe, helpful text ("password: must be…").
    if message.starts_with(path) {
        return message
            .split(" at line")
            .next()
            .unwrap_or(message)
            .to_owned();
    }
    format!("field `{path}` has the wrong type or value")
}

/// Query parameters, refused with the API's JSON 400 where axum's `Query` answers in plain
/// text (`?limit=abc` on the audit log was one, found by schemathesis).
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_form(query.as_bytes()).map(QueryParams)
    }
}

/// The address a request came from: the socket peer, or the client named in `X-Forwarded-For`
/// when the peer is a trusted proxy. The header is read right to left and the first address that
/// is not itself a trusted proxy wins, so a client cannot spoof its address by prepending one.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => {}
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

/// Who is calling ([`tessera_engine::Caller`]: IP and user agent), as an extractor. The IP is
/// the client named by a trusted proxy, else the socket peer.
#[derive(Debug, Clone)]
pub struct Caller(pub tessera_engine::Caller);

impl std::ops::Deref for Caller {
    type Target = tessera_engine::Caller;
    fn deref(&self) -> &tessera_engine::Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let ip = client_ip(
            &parts.headers,
            peer,
            &state.web.config.server.trusted_proxies,
        );
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self(tessera_engine::Caller { ip, user_agent }))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.7"),
        );
        let untrusted_peer: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(
            client_ip(&headers, untrusted_peer, &trusted),
            untrusted_peer
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(&headers, proxy, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&headers, proxy, &trusted), proxy);
    }

    #[test]
    fn data_errors_never_echo_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Login {
            email: String,
            password: String,
        }
        let err = parse_json::<Login>(br#"{"email":"a@b.c","password":12345678}"#).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("password") && !text.contains("12345678"),
            "{text}"
        );
        let err = parse_json::<Login>(br#"{"email":"a@b.c"}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing field `password`");
        assert!(parse_json::<Login>(b"{not json").is_err());
    }
}
