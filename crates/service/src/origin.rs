//! The same-origin rule: no web page of another site may change anything in a service, and a
//! service on loopback answers only to loopback names.
//!
//! A browser lets any page send "simple" cross-origin requests (a form POST, a `fetch` with a
//! `text/plain` body) without asking the server first; it only hides the answer. So a page the
//! user opens could upload blobs or publish orders through the user's own machine. Browsers say
//! where such a request comes from (`Origin`, `Sec-Fetch-Site`), which is what is checked here;
//! programs (the CLI, workers, curl) send neither and are not affected.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses, with 403, a state-changing request from another site, and on a loopback listener
/// any request addressed to a name that is not loopback (DNS rebinding).
pub(crate) async fn same_origin(loopback: bool, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    if loopback
        && let Some(host) = &host
        && !is_loopback_host(host)
    {
        return refuse(format!(
            "this service listens on a loopback address and answers only requests addressed to it as localhost or 127.0.0.1, not {host:?}"
        ));
    }
    if !is_safe(request.method())
        && let Some(reason) = cross_site(headers, host.as_deref())
    {
        return refuse(format!(
            "cross-origin request refused ({reason}): web pages of other sites may not change anything here; use the decloud CLI or an HTTP client"
        ));
    }
    next.run(request).await
}

/// Methods that change nothing (RFC 9110 "safe").
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Why a request comes from another site, if a browser says it does.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site")
        && matches!(site.as_bytes(), b"cross-site" | b"same-site")
    {
        return Some(format!(
            "Sec-Fetch-Site: {}",
            String::from_utf8_lossy(site.as_bytes())
        ));
    }
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().unwrap_or_default().to_ascii_lowercase();
    let origin_host = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host == host => None,
        _ => Some(format!(
            "Origin {:?} is not this server",
            String::from_utf8_lossy(origin.as_bytes())
        )),
    }
}

/// Whether `host` (a Host header: a name or an IP, with or without a port) names this
/// machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn refuse(message: String) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_a_browser_saying_another_site_is_cross_site() {
        let host = Some("127.0.0.1:7700");
        assert_eq!(
            cross_site(&headers(&[]), host),
            None,
            "no Origin: a program"
        );
        assert_eq!(
            cross_site(&headers(&[("origin", "http://127.0.0.1:7700")]), host),
            None
        );
        for hostile in [
            &[("origin", "http://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://127.0.0.1:7701")],
            &[("sec-fetch-site", "cross-site")],
        ] {
            assert!(cross_site(&headers(hostile), host).is_some(), "{hostile:?}");
        }
        assert!(
            cross_site(&headers(&[("origin", "http://a.example")]), None).is_some(),
            "an Origin and no Host cannot be checked"
        );
    }

    #[test]
    fn loopback_names() {
        for ok in [
            "localhost",
            "localhost:7700",
            "127.0.0.1:80",
            "[::1]:7700",
            "a.localhost",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7700",
            "10.0.0.1:7700",
            "localhost.evil",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
