//! Users and groups: the caller, listing, adding and validating users, setting their right,
//! groups and their members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use decloud_access::{Action, Perm, Right};
use decloud_service::ApiError;

use super::{Body, check_name, meta_of};
use crate::auth::{allow, bits, bits_allow};
use crate::store::{Kind, Meta};
use crate::wire::*;
use crate::{Pool, PoolError, unix_now};

async fn user_info(pool: &Pool, name: &str) -> Result<UserInfo, PoolError> {
    let user = pool
        .store()
        .user(name)
        .await?
        .ok_or_else(|| PoolError::NotFound(format!("no user {name}")))?;
    Ok(UserInfo {
        groups: pool.store().groups_of(name).await?,
        identities: pool.store().identities_of(name).await?,
        name: user.name,
        right: user.right,
        status: if user.active { "active" } else { "pending" }.into(),
        owner: user.meta.owner,
        group: user.meta.group,
        mode: user.meta.mode,
    })
}

pub(super) async fn me(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<UserInfo>, PoolError> {
    let caller = pool.caller(&headers).await?;
    Ok(Json(user_info(&pool, &caller.name).await?))
}

pub(super) async fn list_users(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<UserInfo>>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    let mut out = Vec::new();
    for user in pool.store().users().await? {
        if bits_allow(&caller, &user.meta, Perm::Read) {
            out.push(user_info(&pool, &user.name).await?);
        }
    }
    Ok(Json(out))
}

pub(super) async fn show_user(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<UserInfo>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    let meta = meta_of(&pool, Kind::User, &name).await?;
    bits(&caller, &meta, Perm::Read, &format!("user {name}"))?;
    Ok(Json(user_info(&pool, &name).await?))
}

pub(super) async fn add_user(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewUser>,
) -> Result<Json<UserInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::InsertUser)?;
    check_name(&body.name, "a user")?;
    let right = body.right.unwrap_or(Right::Standard);
    if right == Right::Administrator || right == Right::Worker {
        allow(&caller, Action::SetRights)?;
    }
    let hash = match &body.password {
        Some(p) => {
            let p = p.clone();
            Some(
                tokio::task::spawn_blocking(move || crate::password::hash(&p))
                    .await
                    .map_err(|e| PoolError::Config(e.to_string()))??,
            )
        }
        None => None,
    };
    pool.store()
        .create_user(&body.name, right, true, hash.as_deref(), unix_now())
        .await?;
    Ok(Json(user_info(&pool, &body.name).await?))
}

pub(super) async fn validate_user(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<UserInfo>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::InsertUser)?;
    if !pool.store().set_user(&name, None, Some(true)).await? {
        return Err(PoolError::NotFound(format!("no user {name}")));
    }
    Ok(Json(user_info(&pool, &name).await?))
}

pub(super) async fn set_right(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body<SetRight>,
) -> Result<Json<UserInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::SetRights)?;
    if !pool.store().set_user(&name, Some(body.right), None).await? {
        return Err(PoolError::NotFound(format!("no user {name}")));
    }
    Ok(Json(user_info(&pool, &name).await?))
}

async fn group_info(pool: &Pool, name: &str) -> Result<GroupInfo, PoolError> {
    let meta = meta_of(pool, Kind::Group, name).await?;
    Ok(GroupInfo {
        name: name.to_owned(),
        members: pool.store().members(name).await?,
        owner: meta.owner,
        mode: meta.mode,
    })
}

pub(super) async fn list_groups(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<GroupInfo>>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    let mut out = Vec::new();
    for name in pool.store().group_names().await? {
        let info = group_info(&pool, &name).await?;
        let meta = Meta {
            owner: info.owner.clone(),
            group: Some(name.clone()),
            mode: info.mode,
        };
        if bits_allow(&caller, &meta, Perm::Read) {
            out.push(info);
        }
    }
    Ok(Json(out))
}

pub(super) async fn add_group(
    State(pool): State<Pool>,
    headers: HeaderMap,
    body: Body<NewGroup>,
) -> Result<Json<GroupInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::InsertGroup)?;
    check_name(&body.name, "a group")?;
    pool.store().create_group(&body.name, &caller.name).await?;
    Ok(Json(group_info(&pool, &body.name).await?))
}

pub(super) async fn add_member(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body<NewMember>,
) -> Result<Json<GroupInfo>, PoolError> {
    let body = PoolError::json_body(body)?;
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::ChangeAccess)?;
    let meta = meta_of(&pool, Kind::Group, &name).await?;
    bits(&caller, &meta, Perm::Write, &format!("group {name}"))?;
    if pool.store().user(&body.user).await?.is_none() {
        // The user is named in the body, not the path: a bad request, not a missing resource.
        return Err(PoolError::BadRequest(format!(
            "no user {}: add it first with `decloud pool user add`",
            body.user
        )));
    }
    pool.store().add_member(&name, &body.user).await?;
    Ok(Json(group_info(&pool, &name).await?))
}
