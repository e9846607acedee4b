//! Access bits and groups of any object of the pool (apps, data, jobs, users, groups, workers).

use decloud_pool::wire::{Chgrp, Chmod};

use super::api::Api;
use crate::cmd::shared::{Untrusted, print_json};

/// Runs `decloud pool chmod KIND ID MODE`.
pub(super) async fn chmod(
    api: &Api,
    kind: String,
    id: String,
    mode: String,
    json: bool,
) -> anyhow::Result<()> {
    let answer: serde_json::Value = api
        .post(&format!("/v1/pool/{kind}/{id}/chmod"), &Chmod { mode })
        .await?;
    if json {
        return print_json(&answer);
    }
    println!(
        "{} {}: {}",
        kind,
        Untrusted(&id),
        Untrusted(answer["symbolic"].as_str().unwrap_or(""))
    );
    Ok(())
}

/// Runs `decloud pool chgrp KIND ID [GROUP] [--none]`.
pub(super) async fn chgrp(
    api: &Api,
    kind: String,
    id: String,
    group: Option<String>,
    none: bool,
    json: bool,
) -> anyhow::Result<()> {
    let group = if none { None } else { group };
    let answer: serde_json::Value = api
        .post(&format!("/v1/pool/{kind}/{id}/chgrp"), &Chgrp { group })
        .await?;
    if json {
        return print_json(&answer);
    }
    println!(
        "{} {}: group {}",
        kind,
        Untrusted(&id),
        Untrusted(answer["group"].as_str().unwrap_or("-"))
    );
    Ok(())
}
