//! `/v1/check` as each proxy calls it, with the headers each proxy's documentation says it sends:
//! Traefik `forwardAuth`, Caddy `forward_auth`, nginx `auth_request` (with the configuration in
//! docs/integrations/nginx.md), ingress-nginx `auth-url`, and Envoy `ext_authz`.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_app_with, Auth, Backend, Call, TestApp};
use crate::on_every_backend;

on_every_backend!(
    traefik_redirects_page_loads_and_answers_api_calls_with_401,
    caddy_mode_by_path_passes_identity_headers,
    nginx_modes_never_redirect_and_hand_over_the_login_url,
    envoy_reads_the_original_path_and_method,
    forged_forwarded_headers_from_an_untrusted_peer_change_nothing,
    open_redirects_are_refused,
    conflicting_methods_count_unsafe,
    default_mode_keeps_the_old_contract,
    the_body_is_never_read,
);

const AUTH: &str = "http://auth.example.test";
const APP: &str = "http://app.example.test";
const LOGIN: &str = "http://auth.example.test/login";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The test client connects from 127.0.0.1; `trusted` makes that address a trusted proxy.
async fn app(backend: Backend, trusted: bool) -> TestApp {
    let proxies = if trusted { "[\"127.0.0.1/32\"]" } else { "[]" };
    spawn_app_with(
        backend,
        &format!(
            "[server]\npublic_url = \"{AUTH}\"\ntrusted_proxies = {proxies}\n\
             allowed_return_origins = [\"{APP}\"]\n"
        ),
    )
    .await
}

fn login_back_to(url: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
    format!("{LOGIN}?return_to={encoded}")
}

/// What Traefik's `forwardAuth` sends: the client's headers plus `X-Forwarded-*`, as a GET.
fn traefik(app: &TestApp, rest: &str, method: &str, uri: &str) -> Call {
    app.check_as(Method::GET, rest)
        .header("x-forwarded-method", method)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "app.example.test")
        .header("x-forwarded-uri", uri)
        .header("x-forwarded-for", "203.0.113.7")
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn traefik_redirects_page_loads_and_answers_api_calls_with_401(backend: Backend) {
    let app = app(backend, true).await;
    let r = traefik(&app, "?mode=traefik", "GET", "/dash?x=1&y=%2F")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        header(r.headers(), "location"),
        Some(login_back_to("http://app.example.test/dash?x=1&y=%2F").as_str())
    );

    let r = traefik(&app, "?mode=traefik", "GET", "/api/items")
        .header("accept", "application/json")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(r.headers(), "www-authenticate").is_some());

    let user = app.create_user("ada@example.com").await;
    let (cookie, _, _) = app.login_cookie("ada@example.com").await;
    let r = traefik(&app, "?mode=traefik", "GET", "/dash")
        .header("accept", BROWSER_ACCEPT)
        .auth(Auth::Cookie(&cookie))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(header(h, "x-auth-user"), user["id"].as_str());
    assert_eq!(header(h, "x-auth-email"), Some("ada@example.com"));
    assert_eq!(header(h, "x-auth-method"), Some("cookie"));
    assert!(header(h, "x-auth-session").is_some());
}

async fn caddy_mode_by_path_passes_identity_headers(backend: Backend) {
    let app = app(backend, true).await;
    // Caddy's forward_auth: GET, X-Forwarded-Method and X-Forwarded-Uri, plus reverse_proxy's
    // X-Forwarded-For/Proto/Host.
    let r = traefik(&app, "/caddy", "HEAD", "/")
        .header("accept", "text/html")
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        header(r.headers(), "location"),
        Some(login_back_to("http://app.example.test/").as_str())
    );

    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let r = traefik(&app, "/caddy", "GET", "/")
        .auth(Auth::Bearer(&token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(r.headers(), "x-auth-method"), Some("session_token"));
    assert_eq!(header(r.headers(), "x-auth-email"), Some("ada@example.com"));
}

async fn nginx_modes_never_redirect_and_hand_over_the_login_url(backend: Backend) {
    let app = app(backend, true).await;
    // The headers docs/integrations/nginx.conf sets on the auth_request subrequest (a GET).
    let r = app
        .check_as(Method::GET, "?mode=nginx")
        .header("x-original-method", "GET")
        .header("x-original-uri", "/reports/7")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "app.example.test")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(r.headers(), "www-authenticate").is_some());
    assert_eq!(
        header(r.headers(), "x-auth-redirect"),
        Some(login_back_to("http://app.example.test/reports/7").as_str())
    );

    // ingress-nginx's auth-url subrequest: X-Original-URL, X-Original-Method,
    // X-Auth-Request-Redirect, X-Sent-From.
    for path in ["?mode=ingress-nginx", "/nginx"] {
        let r = app
            .check_as(Method::GET, path)
            .header("x-original-url", "http://app.example.test/a?b=c")
            .header("x-original-method", "GET")
            .header("x-auth-request-redirect", "/a?b=c")
            .header("x-sent-from", "nginx-ingress-controller")
            .header("x-forwarded-for", "203.0.113.7")
            .header("accept", BROWSER_ACCEPT)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            header(r.headers(), "x-auth-redirect"),
            Some(login_back_to("http://app.example.test/a?b=c").as_str()),
            "{path}"
        );
    }

    // Not a page load: no login URL.
    let r = app
        .check_as(Method::GET, "?mode=nginx")
        .header("x-original-method", "POST")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(r.headers(), "x-auth-redirect"), None);
}

async fn envoy_reads_the_original_path_and_method(backend: Backend) {
    let app = app(backend, true).await;
    // ext_authz HTTP service with path_prefix "/v1/check/envoy": the original method and path,
    // the original Host, and the headers in allowed_headers.
    let envoy = |method: Method, path: &str| {
        app.check_as(method, &format!("/envoy{path}"))
            .header("host", "app.example.test")
            .header("x-forwarded-proto", "http")
            .header("x-envoy-expected-rq-timeout-ms", "250")
    };
    let r = envoy(Method::GET, "/shop/cart?id=3")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        header(r.headers(), "location"),
        Some(login_back_to("http://app.example.test/shop/cart?id=3").as_str())
    );
    let r = envoy(Method::POST, "/shop/cart")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a POST is not a page load"
    );

    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let r = envoy(Method::DELETE, "/shop/cart")
        .auth(Auth::Bearer(&token))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "allow is exactly 200");
    let r = envoy(Method::POST, "/shop/cart")
        .auth(Auth::Cookie(&cookie))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the original POST needs the CSRF token"
    );
    let r = envoy(Method::POST, "/shop/cart")
        .auth(Auth::Cookie(&cookie))
        .header("origin", APP)
        .header("x-csrf-token", &csrf)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the app's own origin is the one that counts"
    );
    let r = envoy(Method::POST, "/shop/cart")
        .auth(Auth::Cookie(&cookie))
        .header("origin", "http://evil.example")
        .header("x-csrf-token", &csrf)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn forged_forwarded_headers_from_an_untrusted_peer_change_nothing(backend: Backend) {
    let app = app(backend, false).await;
    let r = traefik(&app, "?mode=traefik", "GET", "/dash")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(header(r.headers(), "location"), Some(LOGIN), "no return_to");
    let r = app
        .check_as(Method::GET, "?mode=nginx")
        .header("x-original-url", "http://app.example.test/a")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(header(r.headers(), "x-auth-redirect"), Some(LOGIN));

    // The app's origin is not believed either: a cookie POST "from the app" is cross-origin.
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let r = traefik(&app, "?mode=traefik", "POST", "/dash")
        .auth(Auth::Cookie(&cookie))
        .header("origin", APP)
        .header("x-csrf-token", &csrf)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn open_redirects_are_refused(backend: Backend) {
    let app = app(backend, true).await;
    let cases: &[&[(&str, &str)]] = &[
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-uri", "/"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.example.test@evil.example"),
            ("x-forwarded-uri", "/"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.example.test.evil.example"),
            ("x-forwarded-uri", "/"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-host", "app.example.test"),
            ("x-forwarded-uri", "/"),
        ],
        &[
            ("x-forwarded-proto", "javascript"),
            ("x-forwarded-host", "app.example.test"),
            ("x-forwarded-uri", "/"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.example.test"),
            ("x-forwarded-uri", "\\\\evil.example"),
        ],
        &[("x-original-url", "https://evil.example/")],
        &[("x-original-url", "//evil.example/")],
        &[("x-original-url", "javascript:alert(1)")],
    ];
    for headers in cases {
        for mode in ["traefik", "nginx"] {
            let mut call = app
                .check_as(Method::GET, &format!("?mode={mode}"))
                .header("accept", BROWSER_ACCEPT);
            for (name, value) in *headers {
                call = call.header(name, value);
            }
            let r = call.await;
            let target =
                header(r.headers(), "location").or_else(|| header(r.headers(), "x-auth-redirect"));
            assert_eq!(target, Some(LOGIN), "{mode} {headers:?}");
        }
    }
    let r = app
        .check_as(Method::GET, "/envoy//evil.example/x")
        .header("host", "app.example.test")
        .header("x-forwarded-proto", "http")
        .header("accept", BROWSER_ACCEPT)
        .await;
    let location = header(r.headers(), "location").unwrap();
    assert!(
        location == LOGIN || location == login_back_to("http://app.example.test//evil.example/x"),
        "{location}"
    );
}

async fn conflicting_methods_count_unsafe(backend: Backend) {
    let app = app(backend, true).await;
    let conflicting = |call: Call| {
        call.header("x-original-method", "POST")
            .header("accept", BROWSER_ACCEPT)
    };
    let r = conflicting(traefik(&app, "?mode=traefik", "GET", "/")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "not a page load");

    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let r = conflicting(traefik(&app, "?mode=traefik", "GET", "/"))
        .auth(Auth::Cookie(&cookie))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = conflicting(traefik(&app, "?mode=traefik", "GET", "/"))
        .auth(Auth::Cookie(&cookie))
        .header("x-csrf-token", &csrf)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The request's own method counts too: a POST reported as a GET is still a POST.
    let r = app
        .check_as(Method::POST, "")
        .auth(Auth::Cookie(&cookie))
        .header("x-forwarded-method", "GET")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn default_mode_keeps_the_old_contract(backend: Backend) {
    let app = app(backend, true).await;
    let r = traefik(&app, "", "GET", "/")
        .header("accept", BROWSER_ACCEPT)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(r.headers(), "www-authenticate").is_some());
    assert_eq!(header(r.headers(), "x-auth-redirect"), None);
    let r = app.check_as(Method::GET, "?mode=apache").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app.check(Auth::Bearer("tss_garbage")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(r.headers(), "www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
}

async fn the_body_is_never_read(backend: Backend) {
    let app = app(backend, true).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let big = "a=".to_owned() + &"x".repeat(200 * 1024);
    let r = app
        .check_as(Method::POST, "/envoy/upload")
        .auth(Auth::Bearer(&token))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "larger than server.body_limit, yet unread"
    );
    let r = app
        .check_as(Method::POST, "/envoy/upload")
        .auth(Auth::Cookie(&cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={csrf}"))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the form field is the app's, not a token for the check"
    );
}
