//! Whether a service's OpenAPI description and the routes it serves agree, so that neither can
//! drift from the other: every described operation is routed, and everything routed is
//! described.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

/// The methods probed on every path.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// Why a description could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// The service did not answer.
    #[error("{url} does not answer: {source}")]
    Http {
        /// What was asked.
        url: String,
        /// Why it failed.
        #[source]
        source: reqwest::Error,
    },
    /// `/openapi.json` is not an OpenAPI description.
    #[error("{0}/openapi.json is not an OpenAPI description with paths")]
    NotOpenApi(String),
}

/// The `.route("<path>", ...)` paths of a router's source: what the service routes.
pub fn routed_paths(router_source: &str) -> BTreeSet<String> {
    // rustfmt puts the path of a long route on a line of its own.
    router_source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

fn client(base: &str) -> Result<(String, reqwest::Client), OpenApiError> {
    decloud_service::transport::api_client(base)
        .map_err(|e| OpenApiError::NotOpenApi(format!("{base}: {e}")))
}

/// The OpenAPI description the service at `base` serves at `/openapi.json`.
pub async fn description(base: &str) -> Result<Value, OpenApiError> {
    let (base, http) = client(base)?;
    let url = format!("{base}/openapi.json");
    let failed = |source| OpenApiError::Http {
        url: url.clone(),
        source,
    };
    http.get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)
}

/// Every disagreement, one line each, between the description served at `{base}/openapi.json`
/// and the routes the service at `base` answers (empty when they agree):
///
/// - a path routed in `router_source` (the module that builds the router) but not described,
///   or described but not routed;
/// - a described operation that answers as no route does (404 with an empty body, or 405);
/// - a method the description omits that the path answers anyway (anything but a 405; `HEAD`
///   goes with `GET`).
///
/// Path parameters are filled with a zero hash: the answer may be a refusal, but it must come
/// from the operation.
pub async fn route_mismatches(
    base: &str,
    router_source: &str,
) -> Result<Vec<String>, OpenApiError> {
    let description = description(base).await?;
    let paths = description["paths"]
        .as_object()
        .ok_or_else(|| OpenApiError::NotOpenApi(base.to_owned()))?;
    let described: BTreeMap<&str, BTreeSet<String>> = paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .map(|m| m.to_uppercase())
                .filter(|m| METHODS.iter().any(|known| known.as_str() == m))
                .collect();
            (path.as_str(), methods)
        })
        .collect();

    let mut mismatches = Vec::new();
    let routed = routed_paths(router_source);
    for path in routed
        .iter()
        .filter(|p| !described.contains_key(p.as_str()))
    {
        mismatches.push(format!("{path} is routed but not described"));
    }
    for path in described.keys().filter(|p| !routed.contains(**p)) {
        mismatches.push(format!("{path} is described but not routed"));
    }

    let (base, http) = client(base)?;
    let zero_hash = format!("0x{}", "0".repeat(64));
    for (path, methods) in &described {
        let concrete = fill_parameters(path, &zero_hash);
        for method in METHODS {
            let url = format!("{base}{concrete}");
            let response = http
                .request(method.clone(), &url)
                .send()
                .await
                .map_err(|source| OpenApiError::Http {
                    url: url.clone(),
                    source,
                })?;
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            let head = method == Method::HEAD;
            // A HEAD answer has no body: its 404 cannot tell "no such route" from "not found".
            let unrouted = status == 405 || (status == 404 && body.is_empty() && !head);
            let is_described =
                methods.contains(method.as_str()) || (head && methods.contains("GET"));
            if is_described && unrouted {
                mismatches.push(format!(
                    "{method} {path} is described but answers {status} as if not routed"
                ));
            }
            if !is_described && status != 405 {
                mismatches.push(format!(
                    "{method} {path} is not described but answers {status}"
                ));
            }
        }
    }
    Ok(mismatches)
}

/// `path` with each `{parameter}` replaced by `value`.
fn fill_parameters(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(value);
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_the_router_source() {
        let source = r#"Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/v1/tasks/{taskid}", get(task))
            .layer(x)"#;
        assert_eq!(
            routed_paths(source).into_iter().collect::<Vec<_>>(),
            ["/health", "/v1/tasks/{taskid}"]
        );
        assert_eq!(fill_parameters("/a/{x}/b/{y}", "0"), "/a/0/b/0");
        assert_eq!(fill_parameters("/a", "0"), "/a");
    }
}
