//! Objects of the pool: apps and data (inserted, listed, shown, deleted), the workers it
//! declares, the on-chain apps and datasets it confines, and deleting an object of any kind.

use anyhow::{Context, bail};
use base64::Engine;
use decloud_pool::wire::{
    ChainKind, Confinement, Deleted, NewApp, NewChainResource, NewDatum, NewWorker, ObjectInfo,
};

use super::api::Api;
use super::{ObjectCommand, OnchainCommand, WorkerCommand};
use crate::cmd::shared::{Untrusted, print_json, table};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Runs `decloud pool app <verb>` (`kind` "apps") and `decloud pool data <verb>` ("data").
pub(super) async fn objects(
    api: &Api,
    kind: &str,
    command: ObjectCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        ObjectCommand::Add {
            file,
            name,
            confinement: c,
            group,
            certificate,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .context("the file has no name: pass --name")?,
            };
            let confinement = confinement(&c)?;
            let object: ObjectInfo = if kind == "apps" {
                if certificate {
                    bail!("--certificate is for data, not apps");
                }
                api.post(
                    "/v1/pool/apps",
                    &NewApp {
                        name,
                        confinement,
                        group,
                        module: B64.encode(&bytes),
                    },
                )
                .await?
            } else {
                api.post(
                    "/v1/pool/data",
                    &NewDatum {
                        name,
                        confinement,
                        group,
                        certificate,
                        content: B64.encode(&bytes),
                    },
                )
                .await?
            };
            if json {
                return print_json(&object);
            }
            println!(
                "{} {} added ({}, {})",
                object.kind,
                Untrusted(&object.id),
                object.confinement.as_str(),
                object.mode
            );
        }
        ObjectCommand::List => {
            let list: Vec<ObjectInfo> = api.get(&format!("/v1/pool/{kind}")).await?;
            if json {
                return print_json(&list);
            }
            objects_table(&list);
        }
        ObjectCommand::Delete { id } => delete(api, kind, &id, json).await?,
        ObjectCommand::Show { id } => {
            let object: ObjectInfo = api.get(&format!("/v1/pool/{kind}/{id}")).await?;
            if json {
                return print_json(&object);
            }
            objects_table(std::slice::from_ref(&object));
        }
    }
    Ok(())
}

/// Runs `decloud pool worker <verb>`.
pub(super) async fn worker(api: &Api, command: WorkerCommand, json: bool) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Add {
            address,
            owner,
            confinement: c,
            group,
        } => {
            let address = crate::cmd::shared::parse_address(&address, "the worker's address")?;
            let worker: ObjectInfo = api
                .post(
                    "/v1/pool/workers",
                    &NewWorker {
                        address,
                        owner,
                        confinement: confinement(&c)?,
                        group,
                    },
                )
                .await?;
            if json {
                return print_json(&worker);
            }
            println!(
                "worker {} works for {} ({})",
                worker.id,
                Untrusted(&worker.owner),
                worker.confinement.as_str()
            );
        }
        WorkerCommand::List => {
            let workers: Vec<ObjectInfo> = api.get("/v1/pool/workers").await?;
            if json {
                return print_json(&workers);
            }
            objects_table(&workers);
        }
    }
    Ok(())
}

/// Runs `decloud pool onchain <verb>`.
pub(super) async fn onchain(api: &Api, command: OnchainCommand, json: bool) -> anyhow::Result<()> {
    match command {
        OnchainCommand::Confine {
            address,
            kind,
            owner,
            confinement: c,
            group,
        } => {
            let address = crate::cmd::shared::parse_address(&address, "the registry address")?;
            let kind = if kind == "app" {
                ChainKind::App
            } else {
                ChainKind::Dataset
            };
            let confined: ObjectInfo = api
                .post(
                    "/v1/pool/onchain",
                    &NewChainResource {
                        address,
                        kind,
                        owner,
                        confinement: confinement(&c)?,
                        group,
                    },
                )
                .await?;
            if json {
                return print_json(&confined);
            }
            println!(
                "{} {} is {} to {}",
                confined.kind,
                confined.id,
                confined.confinement.as_str(),
                Untrusted(confined.group.as_deref().unwrap_or(&confined.owner))
            );
        }
        OnchainCommand::List => {
            let listed: Vec<ObjectInfo> = api.get("/v1/pool/onchain").await?;
            if json {
                return print_json(&listed);
            }
            objects_table(&listed);
        }
        OnchainCommand::Release { address } => {
            let address = crate::cmd::shared::parse_address(&address, "the registry address")?;
            let answer: serde_json::Value = api
                .json(api.request(
                    reqwest::Method::DELETE,
                    &format!("/v1/pool/onchain/{address}"),
                ))
                .await?;
            if json {
                return print_json(&answer);
            }
            println!("{address} is public again: its deals' tasks may go to any worker");
        }
    }
    Ok(())
}

/// `DELETE /v1/pool/{kind}/{id}`.
pub(super) async fn delete(api: &Api, kind: &str, id: &str, json: bool) -> anyhow::Result<()> {
    let deleted: Deleted = api
        .json(api.request(reqwest::Method::DELETE, &format!("/v1/pool/{kind}/{id}")))
        .await?;
    if json {
        return print_json(&deleted);
    }
    println!("{} deleted", Untrusted(&deleted.id));
    Ok(())
}

fn objects_table(objects: &[ObjectInfo]) {
    let mut t = table([
        "id",
        "name",
        "owner",
        "group",
        "mode",
        "confinement",
        "kind",
        "size",
    ]);
    for o in objects {
        t.add_row(vec![
            Untrusted(&o.id).to_string(),
            Untrusted(&o.name).to_string(),
            Untrusted(&o.owner).to_string(),
            Untrusted(o.group.as_deref().unwrap_or("-")).to_string(),
            o.mode.to_string(),
            o.confinement.as_str().to_owned(),
            o.kind.clone(),
            o.size.to_string(),
        ]);
    }
    println!("{t}");
}

fn confinement(text: &str) -> anyhow::Result<Confinement> {
    text.parse().map_err(|e: String| anyhow::anyhow!(e))
}
