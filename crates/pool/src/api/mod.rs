//! The pool's client API, mounted by the scheduler beside its worker API. Every request is
//! checked in the same order: the caller's right for the action, then the object's access
//! bits, then confinement.
//!
//! | method | path | action | what |
//! |---|---|---|---|
//! | `POST` | `/v1/pool/login/password` | | `{login, password}` → a session (throttled) |
//! | `GET` | `/v1/pool/login/challenge` | | a wallet login challenge |
//! | `POST` | `/v1/pool/login/wallet` | | `{address, nonce, deadline, signature}` → a session |
//! | `POST` | `/v1/pool/login/certificate` | | the TLS client certificate → a session, or pending |
//! | `POST` | `/v1/pool/login/oidc` | | `{id_token}` → a session, or pending |
//! | `GET` | `/v1/pool/me` | | the caller |
//! | `GET`/`POST` | `/v1/pool/users` | list / insert-user | users |
//! | `GET` | `/v1/pool/users/{name}` | list | a user |
//! | `POST` | `/v1/pool/users/{name}/validate` | insert-user | activate a pending identity |
//! | `POST` | `/v1/pool/users/{name}/right` | set-rights | `{right}` |
//! | `GET`/`POST` | `/v1/pool/groups` | list / insert-group | groups |
//! | `POST` | `/v1/pool/groups/{name}/members` | change-access | `{user}` |
//! | `GET`/`POST` | `/v1/pool/apps` | list / insert-app | apps (module in base64) |
//! | `GET`/`POST` | `/v1/pool/data` | list / insert-data | data |
//! | `GET` | `/v1/pool/data/{id}/content` | read | a datum's bytes |
//! | `GET`/`POST` | `/v1/pool/workers` | list / insert-user | workers' owners and confinement |
//! | `GET`/`POST` | `/v1/pool/jobs` | list / submit-job | jobs |
//! | `GET` | `/v1/pool/{kind}/{id}` | list | one app, datum, job |
//! | `DELETE` | `/v1/pool/{apps,data,jobs}/{id}` | delete | its owner or an administrator; not an app or datum a job still waits for or runs, not a running job, not a deal's task |
//! | `GET` | `/v1/pool/jobs/{id}/result` | read | a job's result (the packed `/out`) |
//! | `POST` | `/v1/pool/{kind}/{id}/chmod` | change-access | `{mode}` (only the owner or an administrator; only an administrator widens) |
//! | `POST` | `/v1/pool/{kind}/{id}/chgrp` | change-access | `{group}` |

mod jobs;
mod login;
mod objects;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::JsonRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::store::{Kind, Meta};
use crate::{Pool, PoolError};
use jobs::{delete_job, job_result, list_jobs, show_job, submit_job};
use login::{challenge, login_certificate, login_oidc, login_password, login_wallet};
use objects::{
    add_app, add_datum, add_worker, chgrp, chmod, confine_chain_resource, datum_content,
    delete_app, delete_datum, list_apps, list_chain_resources, list_data, list_workers,
    release_chain_resource, show_app, show_datum,
};
use users::{
    add_group, add_member, add_user, list_groups, list_users, me, set_right, show_user,
    validate_user,
};

/// Largest request body (an app's module in base64).
pub const MAX_BODY_BYTES: usize = 48 * 1024 * 1024;
/// How long a wallet login challenge may be answered.
pub const CHALLENGE_TTL_SECS: u64 = 300;
/// Longest job arguments.
pub const MAX_ARGS_CHARS: usize = 4096;

/// The pool API's routes, with their state; merge them into the scheduler's router.
pub fn router(pool: Pool) -> Router {
    Router::new()
        .route("/v1/pool/login/password", post(login_password))
        .route("/v1/pool/login/challenge", get(challenge))
        .route("/v1/pool/login/wallet", post(login_wallet))
        .route("/v1/pool/login/certificate", post(login_certificate))
        .route("/v1/pool/login/oidc", post(login_oidc))
        .route("/v1/pool/me", get(me))
        .route("/v1/pool/users", get(list_users).post(add_user))
        .route("/v1/pool/users/{name}", get(show_user))
        .route("/v1/pool/users/{name}/validate", post(validate_user))
        .route("/v1/pool/users/{name}/right", post(set_right))
        .route("/v1/pool/groups", get(list_groups).post(add_group))
        .route("/v1/pool/groups/{name}/members", post(add_member))
        .route("/v1/pool/apps", get(list_apps).post(add_app))
        .route("/v1/pool/apps/{id}", get(show_app).delete(delete_app))
        .route("/v1/pool/data", get(list_data).post(add_datum))
        .route("/v1/pool/data/{id}", get(show_datum).delete(delete_datum))
        .route("/v1/pool/data/{id}/content", get(datum_content))
        .route("/v1/pool/workers", get(list_workers).post(add_worker))
        .route(
            "/v1/pool/onchain",
            get(list_chain_resources).post(confine_chain_resource),
        )
        .route(
            "/v1/pool/onchain/{address}",
            axum::routing::delete(release_chain_resource),
        )
        .route("/v1/pool/jobs", get(list_jobs).post(submit_job))
        .route("/v1/pool/jobs/{id}", get(show_job).delete(delete_job))
        .route("/v1/pool/jobs/{id}/result", get(job_result))
        .route("/v1/pool/{kind}/{id}/chmod", post(chmod))
        .route("/v1/pool/{kind}/{id}/chgrp", post(chgrp))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(pool)
}

type Body<T> = Result<Json<T>, JsonRejection>;

fn check_name(name: &str, what: &str) -> Result<(), PoolError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@:".contains(c))
    {
        return Err(PoolError::BadRequest(format!(
            "{what} name {name:?} is not 1 to 128 letters, digits or .-_@:"
        )));
    }
    Ok(())
}

async fn meta_of(pool: &Pool, kind: Kind, id: &str) -> Result<Meta, PoolError> {
    pool.store()
        .meta(kind, id)
        .await?
        .ok_or_else(|| PoolError::NotFound(format!("no {} {id}", kind.noun())))
}

fn octets(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}
