//! How a service's errors answer over HTTP.

use std::fmt;

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error answer.
#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

/// A service's error enum as its API answers it. The service keeps its own variants and
/// decides each one's status; the answer's shape, the logging and the mapping of rejected
/// bodies and queries are the same for every service. (`IntoResponse` cannot be implemented
/// here for every `ApiError`, so each service writes `fn into_response(self) -> Response {
/// self.response() }`.)
pub trait ApiError: fmt::Display + Sized {
    /// The HTTP status this error answers with.
    fn status(&self) -> StatusCode;

    /// The error for a request the service cannot read (a malformed body or query): a 400.
    fn bad_request(message: String) -> Self;

    /// The error for a request body over the service's size limit: a 413.
    fn too_large() -> Self;

    /// For a refusal the caller may try again later (a 429, a 503): after how many seconds,
    /// sent as `Retry-After`. None by default.
    fn retry_after(&self) -> Option<u64> {
        None
    }

    /// The answer: the status and `{"error": "<message>"}` on one line, with `Retry-After` when
    /// [`ApiError::retry_after`] says so. A server error (5xx) is logged as well, since the
    /// caller sees only its message.
    fn response(&self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }

    /// The value of a JSON body, or the error: [`ApiError::too_large`] over the body limit,
    /// [`ApiError::bad_request`] with axum's reason otherwise.
    fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Self> {
        body.map(|Json(v)| v).map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Self::too_large()
            } else {
                Self::bad_request(format!("invalid request body: {}", e.body_text()))
            }
        })
    }

    /// The value of a query string, or [`ApiError::bad_request`] with axum's reason.
    fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Self> {
        query
            .map(|Query(v)| v)
            .map_err(|e| Self::bad_request(format!("invalid query: {}", e.body_text())))
    }
}
