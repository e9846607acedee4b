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

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use decloud_access::{Action, Mode, Perm, Right, may_read, may_submit};
use decloud_service::ApiError;
use decloud_service::tls::ClientCertificate;

use crate::auth::{allow, bits, bits_allow, certificate_identity};
use crate::store::{B64, Caller, Kind, Meta, ObjectRow};
use crate::wire::*;
use crate::{Pool, PoolError, random_hex, unix_now};

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

fn client_of(extensions: &axum::http::Extensions) -> String {
    decloud_service::limits::client_ip(extensions)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

async fn login_password(
    State(pool): State<Pool>,
    extensions: axum::http::Extensions,
    body: Body<PasswordLogin>,
) -> Result<Json<PoolSession>, PoolError> {
    let body = PoolError::json_body(body)?;
    let client = client_of(&extensions);
    Ok(Json(
        pool.login_password(&body.login, &body.password, &client)
            .await?,
    ))
}

async fn challenge(
    State(pool): State<Pool>,
) -> Result<Json<decloud_protocol::pool::Challenge>, PoolError> {
    let nonce = random_hex(16);
    let deadline = unix_now() + CHALLENGE_TTL_SECS;
    pool.store().insert_challenge(&nonce, deadline).await?;
    let scheduler = pool.inner.config.scheduler;
    Ok(Json(decloud_protocol::pool::Challenge {
        message: decloud_protocol::pool::login_message(&nonce, scheduler, deadline),
        nonce,
        deadline,
        scheduler,
    }))
}

async fn login_wallet(
    State(pool): State<Pool>,
    body: Body<WalletLogin>,
) -> Result<Json<PoolSession>, PoolError> {
    let body = PoolError::json_body(body)?;
    if body.nonce.len() > 64 || !body.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PoolError::BadRequest(
            "malformed nonce: use the one GET /v1/pool/login/challenge returned".into(),
        ));
    }
    let message = decloud_protocol::pool::login_message(
        &body.nonce,
        pool.inner.config.scheduler,
        body.deadline,
    );
    let signer = body
        .signature
        .trim()
        .parse::<alloy::primitives::Signature>()
        .ok()
        .and_then(|s| s.recover_address_from_msg(message.as_bytes()).ok())
        .ok_or_else(|| {
            PoolError::BadRequest(
                "malformed signature: sign the challenge's message (EIP-191)".into(),
            )
        })?;
    if signer != body.address {
        return Err(PoolError::Unauthorized(format!(
            "the login is signed by {signer}, not by {}: sign with that wallet",
            body.address
        )));
    }
    if !pool
        .store()
        .take_challenge(&body.nonce, body.deadline, unix_now())
        .await?
    {
        return Err(PoolError::Unauthorized(
            "unknown, used or expired challenge: get a new one".into(),
        ));
    }
    let name = body.address.to_string();
    Ok(Json(pool.login_identity("wallet", &name, &name).await?))
}

async fn login_certificate(
    State(pool): State<Pool>,
    certificate: Option<Extension<ClientCertificate>>,
) -> Result<Json<PoolSession>, PoolError> {
    let Some(Extension(chain)) = certificate else {
        return Err(PoolError::Unauthorized(
            "no client certificate: connect over TLS with a certificate from a CA this pool trusts"
                .into(),
        ));
    };
    let (subject, cn) = certificate_identity(&chain)?;
    Ok(Json(pool.login_identity("x509", &subject, &cn).await?))
}

async fn login_oidc(
    State(pool): State<Pool>,
    body: Body<OidcLogin>,
) -> Result<Json<PoolSession>, PoolError> {
    let body = PoolError::json_body(body)?;
    let (issuer, subject) = pool.inner.issuers.verify(body.id_token.trim()).await?;
    let host = reqwest::Url::parse(&issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Json(
        pool.login_identity(
            "oidc",
            &format!("{issuer}|{subject}"),
            &format!("{subject}@{host}"),
        )
        .await?,
    ))
}

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

async fn me(State(pool): State<Pool>, headers: HeaderMap) -> Result<Json<UserInfo>, PoolError> {
    let caller = pool.caller(&headers).await?;
    Ok(Json(user_info(&pool, &caller.name).await?))
}

async fn list_users(
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

async fn show_user(
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

async fn add_user(
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

async fn validate_user(
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

async fn set_right(
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

async fn list_groups(
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

async fn add_group(
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

async fn add_member(
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

async fn meta_of(pool: &Pool, kind: Kind, id: &str) -> Result<Meta, PoolError> {
    pool.store()
        .meta(kind, id)
        .await?
        .ok_or_else(|| PoolError::NotFound(format!("no {} {id}", kind.noun())))
}

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

async fn add_app(
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

async fn add_datum(
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

async fn list_apps(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    Ok(Json(list_objects(&pool, &headers, Kind::App).await?))
}

async fn list_data(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    Ok(Json(list_objects(&pool, &headers, Kind::Data).await?))
}

async fn list_workers(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    Ok(Json(list_objects(&pool, &headers, Kind::Worker).await?))
}

async fn show_app(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ObjectInfo>, PoolError> {
    Ok(Json(
        show_object(&pool, &headers, Kind::App, &id).await?.info,
    ))
}

async fn show_datum(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ObjectInfo>, PoolError> {
    Ok(Json(
        show_object(&pool, &headers, Kind::Data, &id).await?.info,
    ))
}

fn octets(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

async fn datum_content(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::Read)?;
    show_object(&pool, &headers, Kind::Data, &id).await?;
    Ok(octets(pool.store().content(Kind::Data, &id).await?))
}

async fn add_worker(
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

async fn list_chain_resources(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<Vec<ObjectInfo>>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    let rows = pool.store().chain_resources().await?;
    Ok(Json(rows.into_iter().map(|r| r.info).collect()))
}

async fn confine_chain_resource(
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

async fn release_chain_resource(
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

async fn submit_job(
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

async fn list_jobs(
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

async fn show_job(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobInfo>, PoolError> {
    let caller = pool.caller(&headers).await?;
    allow(&caller, Action::List)?;
    Ok(Json(visible_job(&pool, &caller, &id).await?.info))
}

async fn job_result(
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

async fn delete_app(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, PoolError> {
    delete_object(&pool, &headers, Kind::App, &id).await
}

async fn delete_datum(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, PoolError> {
    delete_object(&pool, &headers, Kind::Data, &id).await
}

async fn delete_job(
    State(pool): State<Pool>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, PoolError> {
    delete_object(&pool, &headers, Kind::Job, &id).await
}

/// Deletes an app, a datum or a job: the delete right, then only its owner or an
/// administrator; never what work in progress still needs.
async fn delete_object(
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

async fn chmod(
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

async fn chgrp(
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
