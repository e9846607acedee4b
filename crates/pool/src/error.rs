//! The pool API's errors: each message says what went wrong and what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use decloud_service::ApiError;

/// What the pool can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The request is malformed or does not hold.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credential or session.
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but the right, the access bits or confinement do not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The identity exists but an administrator has not validated it yet.
    #[error(
        "identity {0} is pending: an administrator must validate it (`decloud pool user validate`)"
    )]
    Pending(String),
    /// Too many attempts: try again after `retry_after` seconds.
    #[error("too many {what}: try again in {retry_after} s")]
    TooManyRequests {
        /// What was tried too often.
        what: &'static str,
        /// Seconds to wait (`Retry-After`).
        retry_after: u64,
    },
    /// Nothing of that name (or nothing the caller may see).
    #[error("{0}")]
    NotFound(String),
    /// Already exists.
    #[error("{0}")]
    Conflict(String),
    /// The request body is over the size limit.
    #[error("request body over {0} bytes: send a smaller app or datum")]
    TooLarge(usize),
    /// An OpenID issuer's keys could not be fetched.
    #[error("{0}")]
    Issuer(String),
    /// The database could not be opened or migrated.
    #[error("pool database: {0}")]
    Open(#[from] decloud_sql::SqlError),
    /// A query failed.
    #[error("pool database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row is unreadable.
    #[error("pool database holds a corrupt row ({0}): restore it from a backup or delete the row")]
    Corrupt(String),
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
}

decloud_sql::column_errors!(PoolError);

impl From<decloud_access::AccessError> for PoolError {
    fn from(e: decloud_access::AccessError) -> Self {
        match e {
            decloud_access::AccessError::NotOwner
            | decloud_access::AccessError::Widening { .. } => PoolError::Forbidden(e.to_string()),
            _ => PoolError::BadRequest(e.to_string()),
        }
    }
}

impl ApiError for PoolError {
    fn status(&self) -> StatusCode {
        match self {
            PoolError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PoolError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            PoolError::Forbidden(_) | PoolError::Pending(_) => StatusCode::FORBIDDEN,
            PoolError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            PoolError::NotFound(_) => StatusCode::NOT_FOUND,
            PoolError::Conflict(_) => StatusCode::CONFLICT,
            PoolError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PoolError::Issuer(_) => StatusCode::BAD_GATEWAY,
            PoolError::Open(_)
            | PoolError::Database(_)
            | PoolError::Corrupt(_)
            | PoolError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad_request(message: String) -> Self {
        PoolError::BadRequest(message)
    }

    fn too_large() -> Self {
        PoolError::TooLarge(crate::api::MAX_BODY_BYTES)
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            PoolError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl IntoResponse for PoolError {
    fn into_response(self) -> Response {
        self.response()
    }
}
