//! What a reverse proxy tells `/v1/check` about the request it is asking about.
//!
//! Proxies report the original request in different ways: Traefik and Caddy send
//! `X-Forwarded-Method/Proto/Host/Uri`, nginx configs usually `X-Original-Method` /
//! `X-Original-URI`, ingress-nginx `X-Original-URL`, and Envoy sends the original method and
//! path themselves (under a path prefix). Methods are only ever used to make the CSRF rule
//! stricter, so they are read from anyone; the URL decides where a browser is sent after signing
//! in and the origin a cookie request must come from, so it is believed from
//! `server.trusted_proxies` only.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Uri};
use ipnet::IpNet;

use crate::error::ApiError;

/// Where a reverse proxy reports the method of the request it asks `/v1/check` about.
const METHOD_HEADERS: [&str; 2] = ["x-forwarded-method", "x-original-method"];

/// `/v1/check` and every path under it.
pub fn is_check_path(path: &str) -> bool {
    path == "/v1/check" || path.starts_with("/v1/check/")
}

/// The methods a request to `/v1/check` speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedMethod {
    /// No report: the request's own method is the original one (Envoy, direct callers).
    Absent,
    /// Every report names this method.
    Agreed(Method),
    /// A report that does not parse, or reports that disagree.
    Unusable,
}

pub fn reported_method(headers: &HeaderMap) -> ReportedMethod {
    let mut reported = ReportedMethod::Absent;
    let values = METHOD_HEADERS
        .iter()
        .flat_map(|name| headers.get_all(*name));
    for value in values {
        let Ok(method) = Method::from_bytes(value.as_bytes()) else {
            return ReportedMethod::Unusable;
        };
        match &reported {
            ReportedMethod::Agreed(seen) if *seen != method => return ReportedMethod::Unusable,
            _ => reported = ReportedMethod::Agreed(method),
        }
    }
    reported
}

/// Whether a method (as reported, or the request's own) may change state, for the CSRF rule.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether a `/v1/check` request speaks for an unsafe request: its own method is unsafe (Envoy
/// sends the original one), or a reported one is, or the reports are unusable. An attacker who
/// can add a header can thus only make the check stricter.
pub fn check_is_unsafe(own: &Method, headers: &HeaderMap) -> bool {
    if is_unsafe(own) {
        return true;
    }
    match reported_method(headers) {
        ReportedMethod::Absent => false,
        ReportedMethod::Agreed(m) => is_unsafe(&m),
        ReportedMethod::Unusable => true,
    }
}

/// Whether the original request is a top-level page load a login redirect may answer: every
/// method involved is GET or HEAD.
pub fn is_navigation_method(own: &Method, headers: &HeaderMap) -> bool {
    let read_only = |m: &Method| *m == Method::GET || *m == Method::HEAD;
    read_only(own)
        && match reported_method(headers) {
            ReportedMethod::Absent => true,
            ReportedMethod::Agreed(m) => read_only(&m),
            ReportedMethod::Unusable => false,
        }
}

/// The address of the connection's peer (the proxy, when there is one).
pub fn peer_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip())
}

pub fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&peer))
}

/// How the proxy reports the original URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource<'a> {
    /// Traefik, Caddy: `X-Forwarded-Proto` + `X-Forwarded-Host` + `X-Forwarded-Uri`. Other
    /// headers are the client's own: these proxies pass them through.
    Forwarded,
    /// nginx, ingress-nginx: `X-Original-URL`, else `X-Forwarded-Proto` + `X-Forwarded-Host` +
    /// `X-Original-URI`.
    Original,
    /// Envoy: the original path (and query) follow the check's path prefix; the host is the
    /// request's `Host`, the scheme `X-Forwarded-Proto`.
    PathSuffix(&'a str),
}

/// The original request's absolute URL, when a trusted proxy reported all of it unambiguously.
/// Every part must be present exactly once; anything odd gives `None`, which only costs the
/// user the way back after signing in.
pub fn original_url(
    headers: &HeaderMap,
    uri: &Uri,
    source: UrlSource<'_>,
    peer: IpAddr,
    trusted: &[IpNet],
) -> Option<String> {
    if !is_trusted(peer, trusted) {
        return None;
    }
    if source == UrlSource::Original {
        if let Some(url) = single(headers, "x-original-url") {
            return is_absolute_http(url).then(|| url.to_owned());
        }
    }
    let scheme = single(headers, "x-forwarded-proto")?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (host, path_and_query) = match source {
        UrlSource::Forwarded | UrlSource::Original => {
            let uri_header = if source == UrlSource::Forwarded {
                "x-forwarded-uri"
            } else {
                "x-original-uri"
            };
            let host = single(headers, "x-forwarded-host")?;
            (host, single(headers, uri_header)?.to_owned())
        }
        UrlSource::PathSuffix(rest) => {
            let host = single(headers, "host")?;
            let path = match uri.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            (host, path)
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !host_ok || !path_and_query.starts_with('/') {
        return None;
    }
    Some(format!("{scheme}://{host}{path_and_query}"))
}

/// The value of a header sent exactly once as one visible-ASCII item.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?.trim();
    let one_item = !text.is_empty() && (name == "x-original-url" || !text.contains(','));
    (one_item && text.bytes().all(|b| b.is_ascii_graphic())).then_some(text)
}

fn is_absolute_http(url: &str) -> bool {
    crate::config::public_origin(url).is_some()
}

/// What a forward-auth caller does with a denial (see `routes::check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Nginx,
    Redirecting,
}

impl Mode {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "nginx" | "ingress-nginx" => Some(Self::Nginx),
            "traefik" | "caddy" | "envoy" => Some(Self::Redirecting),
            _ => None,
        }
    }
}

/// The mode named by the path's first segment under `/v1/check`, and what follows it.
fn path_mode(path: &str) -> Option<(Mode, &str)> {
    let rest = path.strip_prefix("/v1/check/")?;
    let (name, tail) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    Mode::parse(name).map(|mode| (mode, tail))
}

/// The mode a request to `/v1/check…` names, and where the original URL is read from (also
/// used by the CSRF layer). Under `/v1/check/envoy` (or a sub-path that names no mode, as with
/// an Envoy `path_prefix` of `/v1/check`) the rest of the path is the original one.
pub fn mode_and_source(uri: &Uri) -> Result<(Mode, UrlSource<'_>), ApiError> {
    let path = uri.path();
    if let Some((mode, tail)) = path_mode(path) {
        let source = match mode {
            Mode::Nginx => UrlSource::Original,
            _ if path.starts_with("/v1/check/envoy") => {
                UrlSource::PathSuffix(if tail.is_empty() { "/" } else { tail })
            }
            _ => UrlSource::Forwarded,
        };
        return Ok((mode, source));
    }
    if let Some(tail) = path
        .strip_prefix("/v1/check")
        .filter(|t| t.starts_with('/'))
    {
        return Ok((Mode::Plain, UrlSource::PathSuffix(tail)));
    }
    let named = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.into_owned());
    let Some(name) = named else {
        return Ok((Mode::Plain, UrlSource::Forwarded));
    };
    let mode = Mode::parse(&name).ok_or_else(|| {
        ApiError::InvalidRequest(
            "mode: expected nginx, ingress-nginx, traefik, caddy or envoy".into(),
        )
    })?;
    let source = if mode == Mode::Nginx {
        UrlSource::Original
    } else {
        UrlSource::Forwarded
    };
    Ok((mode, source))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn modes_come_from_the_first_segment() {
        assert_eq!(path_mode("/v1/check/nginx"), Some((Mode::Nginx, "")));
        assert_eq!(
            path_mode("/v1/check/envoy/app/x"),
            Some((Mode::Redirecting, "/app/x"))
        );
        assert_eq!(path_mode("/v1/check/app"), None);
        assert_eq!(path_mode("/v1/check"), None);
        let source = |uri: &'static str| {
            let uri: Uri = uri.parse().unwrap();
            mode_and_source(&uri).map(|(_, s)| format!("{s:?}")).ok()
        };
        assert_eq!(
            source("/v1/check/envoy/a?b").as_deref(),
            Some("PathSuffix(\"/a\")")
        );
        assert_eq!(
            source("/v1/check/envoy").as_deref(),
            Some("PathSuffix(\"/\")")
        );
        assert_eq!(
            source("/v1/check/app/a").as_deref(),
            Some("PathSuffix(\"/app/a\")")
        );
        assert_eq!(source("/v1/check/traefik").as_deref(), Some("Forwarded"));
        assert_eq!(source("/v1/check?mode=caddy").as_deref(), Some("Forwarded"));
        assert_eq!(source("/v1/check/nginx").as_deref(), Some("Original"));
        assert_eq!(
            source("/v1/check?mode=ingress-nginx").as_deref(),
            Some("Original")
        );
        assert_eq!(source("/v1/check?mode=apache"), None);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    fn proxy() -> (IpAddr, Vec<IpNet>) {
        (
            "10.0.0.2".parse().unwrap(),
            vec!["10.0.0.0/8".parse().unwrap()],
        )
    }

    #[test]
    fn urls_come_from_trusted_proxies_only() {
        let h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/a?b=c"),
        ]);
        let uri: Uri = "/v1/check".parse().unwrap();
        let (peer, trusted) = proxy();
        assert_eq!(
            original_url(&h, &uri, UrlSource::Forwarded, peer, &trusted).as_deref(),
            Some("https://app.example.com/a?b=c")
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            original_url(&h, &uri, UrlSource::Forwarded, stranger, &trusted),
            None
        );
    }

    #[test]
    fn ambiguous_or_odd_reports_give_no_url() {
        let (peer, trusted) = proxy();
        let uri: Uri = "/v1/check".parse().unwrap();
        for pairs in [
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "a.example"),
                ("x-forwarded-host", "b.example"),
                ("x-forwarded-uri", "/"),
            ][..],
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "a.example, b.example"),
                ("x-forwarded-uri", "/"),
            ][..],
            &[
                ("x-forwarded-proto", "javascript"),
                ("x-forwarded-host", "a.example"),
                ("x-forwarded-uri", "/"),
            ][..],
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "a.example@evil.example"),
                ("x-forwarded-uri", "/"),
            ][..],
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "a.example"),
                ("x-forwarded-uri", "evil"),
            ][..],
            &[("x-forwarded-host", "a.example"), ("x-forwarded-uri", "/")][..],
            &[("x-original-url", "javascript:alert(1)")][..],
        ] {
            let url = original_url(&headers(pairs), &uri, UrlSource::Forwarded, peer, &trusted);
            assert_eq!(url, None, "{pairs:?}");
        }
    }

    #[test]
    fn envoy_path_suffix_keeps_the_query() {
        let (peer, trusted) = proxy();
        let h = headers(&[("host", "app.example.com"), ("x-forwarded-proto", "https")]);
        let uri: Uri = "/v1/check/envoy/a/b?c=d".parse().unwrap();
        assert_eq!(
            original_url(&h, &uri, UrlSource::PathSuffix("/a/b"), peer, &trusted).as_deref(),
            Some("https://app.example.com/a/b?c=d")
        );
    }

    #[test]
    fn reported_methods_only_make_things_stricter() {
        let get = Method::GET;
        assert!(!check_is_unsafe(&get, &headers(&[])));
        assert!(check_is_unsafe(
            &Method::POST,
            &headers(&[("x-forwarded-method", "GET")])
        ));
        assert!(check_is_unsafe(
            &get,
            &headers(&[("x-forwarded-method", "GET"), ("x-original-method", "HEAD")])
        ));
        assert!(check_is_unsafe(
            &get,
            &headers(&[("x-original-method", "G E T")])
        ));
        assert!(!check_is_unsafe(
            &get,
            &headers(&[("x-original-method", "HEAD")])
        ));
        assert!(is_navigation_method(
            &Method::HEAD,
            &headers(&[("x-forwarded-method", "GET")])
        ));
        assert!(!is_navigation_method(
            &get,
            &headers(&[("x-forwarded-method", "OPTIONS")])
        ));
    }
}
