//! `decloud category list`: the hub's categories of work and the deadlines they give a task.

use std::path::Path;

use clap::{Args, Subcommand};

use super::shared::{RpcOpts, print_json, table};

/// Arguments of `decloud category`.
#[derive(Args)]
pub(crate) struct CategoryArgs {
    #[command(subcommand)]
    command: CategoryCommand,
}

#[derive(Subcommand)]
enum CategoryCommand {
    /// List the hub's categories: id, name, reference time and the deadlines it gives a task.
    #[command(after_help = "Examples:\n  decloud category list\n  decloud category list --json")]
    List {
        #[command(flatten)]
        rpc: RpcOpts,
    },
}

/// Runs `decloud category <verb>`.
pub(crate) async fn run(args: CategoryArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let CategoryCommand::List { rpc } = args.command;
    let client = rpc.connect(home, None).await?;
    let categories = decloud_client::resource::categories(&client).await?;
    if json {
        return print_json(&categories);
    }
    let mut t = table([
        "id",
        "name",
        "reference",
        "contribute within",
        "final deadline",
    ]);
    for c in &categories {
        t.add_row(vec![
            c.id.to_string(),
            c.name.clone(),
            format!("{} s", c.work_clock_time_ref),
            format!("{} s", c.contribution_deadline_secs),
            format!("{} s", c.final_deadline_secs),
        ]);
    }
    println!("{t}");
    Ok(())
}
