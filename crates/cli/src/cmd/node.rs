//! `decloud node`: runs a set of decloud services in one process.

use anyhow::{Context, bail};
use clap::Args;
use decloud_storage::{BlobStore, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `decloud node`.
#[derive(Args)]
pub struct NodeArgs {
    /// Run the storage service: a content-addressed blob server for apps, datasets and results.
    #[arg(long)]
    storage: bool,
    /// Address the storage service listens on.
    #[arg(
        long = "storage-listen",
        alias = "listen",
        default_value = "127.0.0.1:7700",
        value_name = "ADDR"
    )]
    storage_listen: SocketAddr,
    /// Where the storage service keeps blobs [default: $DECLOUD_HOME/blobs]; also s3://bucket/prefix.
    #[arg(long = "storage-dir", alias = "dir", value_name = "DIR|URL")]
    storage_dir: Option<String>,
    /// Largest upload the storage service accepts, in MiB.
    #[arg(
        long = "storage-max-upload-mib",
        default_value_t = 256,
        value_name = "MIB"
    )]
    storage_max_upload_mib: u64,
}

fn decloud_home() -> PathBuf {
    if let Some(home) = std::env::var_os("DECLOUD_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".decloud")
}

/// Runs `decloud node`: starts the chosen services and serves until interrupted (Ctrl-C).
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    if !args.storage {
        bail!("choose at least one service to run, e.g. `decloud node --storage`");
    }
    let location = args
        .storage_dir
        .clone()
        .unwrap_or_else(|| decloud_home().join("blobs").display().to_string());
    let store = BlobStore::from_url(&location)
        .with_context(|| format!("cannot open the blob store {location}"))?;
    let config = ServerConfig {
        max_upload_bytes: args.storage_max_upload_mib.saturating_mul(1 << 20),
        ..ServerConfig::default()
    };
    let storage = decloud_storage::serve(store, config, args.storage_listen, |addr| {
        println!("storage: serving {location} on http://{addr}/blobs");
    });
    tokio::select! {
        result = storage => result.with_context(|| format!("the storage service on {} stopped", args.storage_listen)),
        _ = tokio::signal::ctrl_c() => {
            println!("node: stopping");
            Ok(())
        }
    }
}
