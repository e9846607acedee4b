//! `decloud node`: runs any set of decloud services in one process (storage, market, a
//! workerpool's scheduler, its workers), or each alone against remote peers by URL. The
//! services themselves are `decloud-local`'s [`Node`](decloud_local::node::Node); this command
//! maps flags onto its configuration.

mod args;
mod config;
mod serve;

use anyhow::bail;
use std::path::Path;

use super::shared::stop_signals;

pub(crate) use args::NodeArgs;
pub(crate) use config::sqlite_under;
pub(crate) use serve::init_logs;

/// Runs `decloud node`: starts the chosen services and serves until stopped by Ctrl-C or
/// SIGTERM, either of which stops every service and exits 0.
pub(crate) async fn run(args: NodeArgs, home: &Path) -> anyhow::Result<()> {
    if args.oracle.any() {
        if args.storage.storage
            || args.market.market
            || args.scheduler.scheduler
            || args.workers.workers > 0
            || args.explorer.explorer
            || args.beacon.beacon
            || args.sms.sms
        {
            bail!(
                "run --signer and --relay in a `decloud node` of their own, without other services"
            );
        }
        init_logs("info");
        return super::oracle_node::run(args.oracle, &args.scheduler.wallet, home).await;
    }
    if !args.storage.storage
        && !args.market.market
        && !args.scheduler.scheduler
        && args.workers.workers == 0
        && !args.explorer.explorer
        && !args.beacon.beacon
        && !args.sms.sms
        && !args.sms.keeper
    {
        bail!(
            "choose at least one service to run, e.g. `decloud node --market --storage` or `decloud node --scheduler --workerpool <address> --workers 3`"
        );
    }
    init_logs("info");
    let stop = stop_signals();
    let plan = config::plan(&args, home).await?;
    serve::serve(&args, home, plan, stop).await
}
