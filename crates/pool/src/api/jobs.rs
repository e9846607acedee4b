//! Jobs: submitting, listing, showing and deleting them, and reading their results.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use decloud_access::{Action, Mode, Perm, may_read, may_submit};
use decloud_service::ApiError;

use super::objects::delete_object;
use super::{Body, MAX_ARGS_CHARS, octets};
use crate::auth::{allow, bits, bits_allow};
use crate::store::{Caller, Kind, Meta};
use crate::wire::*;
use crate::{Pool, PoolError, random_hex, unix_now};

pub(super) async fn submit_job(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewJob>,
) -> Result<Json<JobInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::SubmitJob)?;
    if body.args.chars().count() > MAX_ARGS_CHARS {
        return Err(PoolError::BadRequest(format!(
            "the arguments are over {MAX_ARGS_CHARS} characters: pass large inputs as a datum"
        )));
    }
    let app = pool
        .store()
        .object(Kind::App, &body.app)
        .await?
        .ok_or_else(|| {
            PoolError::NotFound(format!("no app {}: see `decloud pool app list`", body.app))
        })?;
    bits(
        &caller,
        &app.meta,
        Perm::Execute,
        &format!("app {}", body.app),
    )?;
    if !may_submit(&caller.principal(), &app.visibility()) {
        return Err(PoolError::Forbidden(format!(
            "app {} is {}: only its {} may submit it",
            body.app,
            app.info.confinement.as_str(),
            if app.info.confinement == Confinement::Group {
                "group's members"
            } else {
                "owner"
            }
        )));
    }
    if let Some(datum) = &body.datum {
        let row = pool
            .store()
            .object(Kind::Data, datum)
            .await?
            .ok_or_else(|| PoolError::NotFound(format!("no datum {datum}")))?;
        if row.info.kind == "certificate" {
            return Err(PoolError::Forbidden(format!(
                "datum {datum} is a certificate: certificates never go to a worker"
            )));
        }
        bits(&caller, &row.meta, Perm::Execute, &format!("datum {datum}"))?;
        if !may_read(&caller.principal(), &row.datum()) {
            return Err(PoolError::Forbidden(format!(
                "datum {datum} is {}: it is not yours to use",
                row.info.confinement.as_str()
            )));
        }
    }
    let id = format!("job-{}", random_hex(12));
    let meta = Meta {
        owner: caller.name.clone(),
        group: None,
        mode: Mode::PRIVATE,
    };
    pool.store()
        .insert_job(
            &id,
            &meta,
            &body.app,
            body.datum.as_deref(),
            &body.args,
            unix_now(),
        )
        .await?;
    pool.inner.submitted.send_modify(|n| *n = n.wrapping_add(1));
    Ok(Json(pool.store().job(&id).await?.expect("inserted").info))
}

pub(super) async fn list_jobs(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<JobInfo>>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    Ok(Json(
        pool.store()
            .jobs()
            .await?
            .into_iter()
            .filter(|j| bits_allow(&caller, &j.meta, Perm::Read))
            .map(|j| j.info)
            .collect(),
    ))
}

async fn visible_job(
    pool: &Pool,
    caller: &Caller,
    id: &str,
) -> Result<crate::store::JobRow, PoolError> {
    let job = pool
        .store()
        .job(id)
        .await?
        .ok_or_else(|| PoolError::NotFound(format!("no job {id}")))?;
    bits(caller, &job.meta, Perm::Read, &format!("job {id}"))?;
    Ok(job)
}

pub(super) async fn show_job(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobInfo>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    Ok(Json(visible_job(&pool, &caller, &id).await?.info))
}

pub(super) async fn job_result(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::Read)?;
    let job = visible_job(&pool, &caller, &id).await?;
    match pool.store().job_result(&id).await? {
        Some(bytes) => Ok(octets(bytes)),
        // The job exists, so not 404: it is in a state that has no result yet.
        None => Err(PoolError::Conflict(format!(
            "job {id} has no result ({}): try again when it is completed",
            job.info.status
        ))),
    }
}

pub(super) async fn delete_job(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, PoolError> {
    delete_object(&pool, &headers, Kind::Job, &id).await
}
