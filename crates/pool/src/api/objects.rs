//! Apps, data, workers and on-chain resources: adding, listing and showing them, and changing
//! their access (delete, chmod, chgrp) for any kind of object.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use decloud_access::{Action, Mode, Perm, may_read};
use decloud_service::ApiError;

use super::{Body, check_name, meta_of, octets};
use crate::auth::{allow, bits, bits_allow};
use crate::store::{B64, Caller, Kind, Meta, ObjectRow};
use crate::wire::*;
use crate::{Pool, PoolError, random_hex, unix_now};

/// The new object's meta: owned by the caller, in `group` (the caller must be a member, or an
/// administrator), bits by confinement (700 private, 750 group, 755 public).
fn new_meta(
    caller: &Caller,
    confinement: Confinement,
    group: Option<String>,
) -> Result<Meta, PoolError> {
    if confinement == Confinement::Group && group.is_none() {
        return Err(PoolError::BadRequest(
            "a group object needs its group: pass --group".into(),
        ));
    }
    if let Some(g) = &group
        && !caller.groups.contains(g)
        && !caller.right.is_administrator()
    {
        return Err(PoolError::Forbidden(format!(
            "you are not a member of group {g}: ask its owner to add you"
        )));
    }
    Ok(Meta {
        owner: caller.name.clone(),
        group,
        mode: match confinement {
            Confinement::Public => Mode::PUBLIC,
            Confinement::Group => Mode::GROUP,
            Confinement::Private => Mode::PRIVATE,
        },
    })
}

fn decode(content: &str, what: &str) -> Result<Vec<u8>, PoolError> {
    B64.decode(content.trim())
        .map_err(|_| PoolError::BadRequest(format!("the {what} is not base64")))
}

pub(super) async fn add_app(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewApp>,
) -> Result<Json<ObjectInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::InsertApp)?;
    let module = decode(&body.module, "module")?;
    if !module.starts_with(b"\0asm") {
        return Err(PoolError::BadRequest(
            "the module is not WebAssembly: build the app for wasm32-wasip1".into(),
        ));
    }
    let meta = new_meta(&caller, body.confinement, body.group)?;
    let id = format!("app-{}", random_hex(8));
    pool.store()
        .insert_object(
            Kind::App,
            &id,
            &body.name,
            &meta,
            body.confinement,
            "app",
            &module,
            unix_now(),
        )
        .await?;
    Ok(Json(
        pool.store()
            .object(Kind::App, &id)
            .await?
            .expect("inserted")
            .info,
    ))
}

pub(super) async fn add_datum(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewDatum>,
) -> Result<Json<ObjectInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::InsertData)?;
    check_name(&body.name, "a datum's file")?;
    let content = decode(&body.content, "content")?;
    // A certificate is private whatever was asked.
    let confinement = if body.certificate {
        Confinement::Private
    } else {
        body.confinement
    };
    let group = if body.certificate { None } else { body.group };
    let meta = new_meta(&caller, confinement, group)?;
    let id = format!("data-{}", random_hex(8));
    let kind = if body.certificate {
        "certificate"
    } else {
        "data"
    };
    pool.store()
        .insert_object(
            Kind::Data,
            &id,
            &body.name,
            &meta,
            confinement,
            kind,
            &content,
            unix_now(),
        )
        .await?;
    Ok(Json(
        pool.store()
            .object(Kind::Data, &id)
            .await?
            .expect("inserted")
            .info,
    ))
}

/// Whether `caller` may see `row` (bits, and for data confinement and certificates).
fn may_see(caller: &Caller, kind: Kind, row: &ObjectRow) -> bool {
    bits_allow(caller, &row.meta, Perm::Read)
        && (kind != Kind::Data || may_read(&caller.principal(), &row.datum()))
}

async fn list_objects(
    pool: &Pool,
    headers: &HeaderMap,
    kind: Kind,
) -> Result<Vec<ObjectInfo>, PoolError> {
    let caller = pool.caller(headers).await?;
    allow(&caller, Action::List)?;
    let all = match kind {
        Kind::Worker => pool.store().workers().await?,
        _ => pool.store().objects(kind).await?,
    };
    Ok(all
        .into_iter()
        .filter(|row| may_see(&caller, kind, row))
        .map(|row| row.info)
        .collect())
}

async fn show_object(
    pool: &Pool,
    headers: &HeaderMap,
    kind: Kind,
    id: &str,
) -> Result<ObjectRow, PoolError> {
    let caller = pool.caller(headers).await?;
    allow(&caller, Action::List)?;
    let row = pool
        .store()
        .object(kind, id)
        .await?
        .ok_or_else(|| PoolError::NotFound(format!("no {} {id}", kind.noun())))?;
    if !may_see(&caller, kind, &row) {
        bits(
            &caller,
            &row.meta,
            Perm::Read,
            &format!("{} {id}", kind.noun()),
        )?;
        return Err(PoolError::Forbidden(format!(
            "{} {id} is confined to {}: it is not yours to read",
            kind.noun(),
            row.info.confinement.as_str()
        )));
    }
    Ok(row)
}

pub(super) async fn list_apps(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    Ok(Json(list_objects(&pool, &headers, Kind::App).await?))
}

pub(super) async fn list_data(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    Ok(Json(list_objects(&pool, &headers, Kind::Data).await?))
}

pub(super) async fn list_workers(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    Ok(Json(list_objects(&pool, &headers, Kind::Worker).await?))
}

pub(super) async fn show_app(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ObjectInfo>, PoolError> {
    Ok(Json(
        show_object(&pool, &headers, Kind::App, &id).await?.info,
    ))
}

pub(super) async fn show_datum(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ObjectInfo>, PoolError> {
    Ok(Json(
        show_object(&pool, &headers, Kind::Data, &id).await?.info,
    ))
}

pub(super) async fn datum_content(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::Read)?;
    show_object(&pool, &headers, Kind::Data, &id).await?;
    Ok(octets(pool.store().content(Kind::Data, &id).await?))
}

pub(super) async fn add_worker(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewWorker>,
) -> Result<Json<ObjectInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    // Declaring whose work a machine does is an administrator's act.
    allow(&caller, Action::InsertUser)?;
    if pool.store().user(&body.owner).await?.is_none() {
        return Err(PoolError::BadRequest(format!(
            "no user {}: add it first with `decloud pool user add`",
            body.owner
        )));
    }
    if body.confinement == Confinement::Group && body.group.is_none() {
        return Err(PoolError::BadRequest(
            "a group worker needs its group: pass --group".into(),
        ));
    }
    let meta = Meta {
        owner: body.owner.clone(),
        group: body.group.clone(),
        mode: Mode::GROUP,
    };
    pool.store()
        .upsert_worker(body.address, &meta, body.confinement)
        .await?;
    let address = body.address.to_string();
    pool.store()
        .workers()
        .await?
        .into_iter()
        .find(|w| w.info.id == address)
        .map(|w| Json(w.info))
        .ok_or_else(|| PoolError::Corrupt(format!("worker {address} vanished")))
}

pub(super) async fn list_chain_resources(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    let rows = pool.store().chain_resources().await?;
    Ok(Json(rows.into_iter().map(|r| r.info).collect()))
}

pub(super) async fn confine_chain_resource(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewChainResource>,
) -> Result<Json<ObjectInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    // Deciding where the marketplace's work may run is an administrator's act, like declaring
    // a worker.
    allow(&caller, Action::InsertUser)?;
    if pool.store().user(&body.owner).await?.is_none() {
        return Err(PoolError::BadRequest(format!(
            "no user {}: add it first with `decloud pool user add`",
            body.owner
        )));
    }
    if body.confinement == Confinement::Group && body.group.is_none() {
        return Err(PoolError::BadRequest(
            "a group's app or dataset needs its group: pass --group".into(),
        ));
    }
    let meta = Meta {
        owner: body.owner.clone(),
        group: body.group.clone(),
        mode: Mode::GROUP,
    };
    pool.store()
        .upsert_chain_resource(body.address, body.kind, &meta, body.confinement)
        .await?;
    let address = body.address.to_string();
    pool.store()
        .chain_resources()
        .await?
        .into_iter()
        .find(|r| r.info.id == address)
        .map(|r| Json(r.info))
        .ok_or_else(|| PoolError::Corrupt(format!("on-chain resource {address} vanished")))
}

pub(super) async fn release_chain_resource(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Result<Json<serde_json::Value>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::InsertUser)?;
    let parsed: alloy::primitives::Address = address.parse().map_err(|_| {
        PoolError::BadRequest(format!(
            "{address:?} is not an address: pass the app's or dataset's 0x… registry address"
        ))
    })?;
    if !pool.store().delete_chain_resource(parsed).await? {
        return Err(PoolError::NotFound(format!(
            "the pool does not confine {parsed}: it is public already"
        )));
    }
    Ok(Json(
        serde_json::json!({"address": parsed, "confinement": "public"}),
    ))
}

pub(super) async fn delete_app(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, PoolError> {
    delete_object(&pool, &headers, Kind::App, &id).await
}

pub(super) async fn delete_datum(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, PoolError> {
    delete_object(&pool, &headers, Kind::Data, &id).await
}

/// Deletes an app, a datum or a job: the delete right, then only its owner or an
/// administrator; never what work in progress still needs.
pub(super) async fn delete_object(
    pool: &Pool,
    headers: &HeaderMap,
    kind: Kind,
    id: &str,
) -> Result<Json<Deleted>, PoolError> {
    let caller = pool.caller(headers).await?;
    allow(&caller, Action::Delete)?;
    let meta = meta_of(pool, kind, id).await?;
    if meta.owner != caller.name && !caller.right.is_administrator() {
        return Err(PoolError::Forbidden(format!(
            "only the owner of {} {id} or an administrator deletes it",
            kind.noun()
        )));
    }
    let in_use = |column| async move {
        let n = pool.store().unfinished_jobs_using(column, id).await?;
        if n > 0 {
            return Err(PoolError::Conflict(format!(
                "{} {id} is used by {n} job(s) not yet ended: delete it once they end",
                kind.noun()
            )));
        }
        Ok(())
    };
    match kind {
        Kind::App => in_use("app_id").await?,
        Kind::Data => in_use("datum_id").await?,
        Kind::Job => {
            let job = pool
                .store()
                .job(id)
                .await?
                .ok_or_else(|| PoolError::NotFound(format!("no job {id}")))?;
            if job.info.origin == "deal" {
                return Err(PoolError::Conflict(format!(
                    "job {id} is a deal's task, shown from the chain: it cannot be deleted"
                )));
            }
            if job.info.status == "running" {
                return Err(PoolError::Conflict(format!(
                    "job {id} is running on a worker: delete it once it ends"
                )));
            }
        }
        _ => {}
    }
    if !pool.store().delete_object(kind, id).await? {
        return Err(PoolError::NotFound(format!("no {} {id}", kind.noun())));
    }
    Ok(Json(Deleted {
        id: id.to_owned(),
        deleted: true,
    }))
}

fn kind_of(text: &str) -> Result<Kind, PoolError> {
    Kind::parse(text).ok_or_else(|| {
        PoolError::NotFound(format!(
            "no objects {text:?}: use apps, data, jobs, users, groups or workers"
        ))
    })
}

pub(super) async fn chmod(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
    body: Body<Chmod>,
) -> Result<Json<serde_json::Value>, PoolError> {
    let body = PoolError::json_body(body)?;
    let kind = kind_of(&kind)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::ChangeAccess)?;
    let to = Mode::parse(body.mode.trim())?;
    let meta = meta_of(&pool, kind, &id).await?;
    let relation = decloud_access::relation_of(
        &caller.name,
        &caller.groups,
        caller.right.is_administrator(),
        &meta.owner,
        meta.group.as_ref(),
    );
    let mode = decloud_access::change_mode(relation, meta.mode, to)?;
    pool.store().set_mode(kind, &id, mode).await?;
    Ok(Json(
        serde_json::json!({"id": id, "mode": mode.to_string(), "symbolic": mode.symbolic()}),
    ))
}

pub(super) async fn chgrp(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
    body: Body<Chgrp>,
) -> Result<Json<serde_json::Value>, PoolError> {
    let body = PoolError::json_body(body)?;
    let kind = kind_of(&kind)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::ChangeAccess)?;
    let meta = meta_of(&pool, kind, &id).await?;
    if meta.owner != caller.name && !caller.right.is_administrator() {
        return Err(PoolError::Forbidden(
            "only the object's owner or an administrator changes its group".into(),
        ));
    }
    if let Some(g) = &body.group {
        // Giving an object to a group one is not in would widen who reaches it.
        if !caller.groups.contains(g) && !caller.right.is_administrator() {
            return Err(PoolError::Forbidden(format!(
                "you are not a member of group {g}: only an administrator gives objects to other groups"
            )));
        }
        if pool.store().meta(Kind::Group, g).await?.is_none() {
            return Err(PoolError::NotFound(format!("no group {g}")));
        }
    }
    pool.store()
        .set_group(kind, &id, body.group.as_deref())
        .await?;
    Ok(Json(serde_json::json!({"id": id, "group": body.group})))
}
