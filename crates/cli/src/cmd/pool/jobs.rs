//! Jobs: submitting them, listing and showing them, downloading their results and deleting
//! them.

use anyhow::Context;
use decloud_pool::wire::{JobInfo, NewJob};

use super::JobCommand;
use super::api::Api;
use super::objects::delete;
use crate::cmd::shared::{Untrusted, print_json, table};

/// Runs `decloud pool job <verb>`.
pub(super) async fn job(api: &Api, command: JobCommand, json: bool) -> anyhow::Result<()> {
    match command {
        JobCommand::Submit { app, datum, args } => {
            let job: JobInfo = api
                .post("/v1/pool/jobs", &NewJob { app, datum, args })
                .await?;
            if json {
                return print_json(&job);
            }
            println!("job {} submitted", Untrusted(&job.id));
        }
        JobCommand::List => {
            let jobs: Vec<JobInfo> = api.get("/v1/pool/jobs").await?;
            if json {
                return print_json(&jobs);
            }
            jobs_table(&jobs);
        }
        JobCommand::Show { id } => {
            let job: JobInfo = api.get(&format!("/v1/pool/jobs/{id}")).await?;
            if json {
                return print_json(&job);
            }
            jobs_table(std::slice::from_ref(&job));
            if let Some(reason) = &job.reason {
                println!("reason: {}", Untrusted(reason));
            }
        }
        JobCommand::Delete { id } => delete(api, "jobs", &id, json).await?,
        JobCommand::Result { id, out } => {
            let bytes = api
                .bytes(api.request(reqwest::Method::GET, &format!("/v1/pool/jobs/{id}/result")))
                .await?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            if json {
                return print_json(
                    &serde_json::json!({"job": id, "file": out, "bytes": bytes.len()}),
                );
            }
            println!(
                "result of {} written to {} ({} bytes)",
                Untrusted(&id),
                out.display(),
                bytes.len()
            );
        }
    }
    Ok(())
}

fn jobs_table(jobs: &[JobInfo]) {
    let mut t = table(["id", "owner", "app", "status", "worker", "origin"]);
    for j in jobs {
        t.add_row(vec![
            Untrusted(&j.id).to_string(),
            Untrusted(&j.owner).to_string(),
            Untrusted(&j.app).to_string(),
            Untrusted(&j.status).to_string(),
            Untrusted(j.worker.as_deref().unwrap_or("-")).to_string(),
            j.origin.clone(),
        ]);
    }
    println!("{t}");
}
