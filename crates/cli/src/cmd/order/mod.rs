//! `decloud order init | sign | publish | cancel | show`: the four order kinds, from a
//! `decloud.toml` template (like iExec's `iexec.json`) to a signed order in `orders.json`, to the
//! market, and off it.
//!
//! `decloud.toml` holds one section per kind, `[order.app]`, `[order.dataset]`,
//! `[order.workerpool]`, `[order.request]`, with the fields of the order (docs/protocol.md §5) in
//! snake case: prices in nano-units as strings, tags as lists of names (`["tee"]`), addresses as
//! `0x…`. `order sign` fills a zero salt with a random one and writes the signed orders, with the
//! chain they are valid on, to `orders.json`.

mod cancel;
mod init;
mod publish;
mod show;
mod sign;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use decloud_protocol::OrderKind;

/// Default template file.
pub(crate) const TEMPLATE_FILE: &str = "decloud.toml";
/// Default file of signed orders.
pub(crate) const SIGNED_FILE: &str = "orders.json";

/// Arguments of `decloud order`.
#[derive(Args)]
pub(crate) struct OrderArgs {
    #[command(subcommand)]
    command: OrderCommand,
}

/// Which order kinds a command acts on; none given = every kind present in the file.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct Kinds {
    /// The app order.
    #[arg(long)]
    app: bool,
    /// The dataset order.
    #[arg(long)]
    dataset: bool,
    /// The workerpool order.
    #[arg(long)]
    workerpool: bool,
    /// The request order.
    #[arg(long)]
    request: bool,
}

impl Kinds {
    /// The kinds named on the command line.
    fn chosen(&self) -> Vec<OrderKind> {
        let flags = [self.app, self.dataset, self.workerpool, self.request];
        OrderKind::ALL
            .into_iter()
            .zip(flags)
            .filter_map(|(k, on)| on.then_some(k))
            .collect()
    }
}

/// The signed orders a command reads: which kinds, from which file.
#[derive(Args, Clone, Debug)]
pub(crate) struct SignedOpts {
    #[command(flatten)]
    kinds: Kinds,
    /// The signed orders.
    #[arg(long, default_value = SIGNED_FILE, value_name = "FILE")]
    orders: PathBuf,
}

impl SignedOpts {
    /// The file's orders of the kinds chosen (every kind it holds when none is).
    fn load(
        &self,
    ) -> anyhow::Result<(
        decloud_client::orders::SignedOrders,
        Vec<decloud_client::orders::AnyOrder>,
    )> {
        let signed = decloud_client::orders::SignedOrders::load(&self.orders)?;
        let chosen = signed.select(&self.kinds.chosen(), &self.orders)?;
        Ok((signed, chosen))
    }
}

#[derive(Subcommand)]
enum OrderCommand {
    /// Write order templates into decloud.toml (sections [order.app], [order.workerpool], ...).
    #[command(
        after_help = "Each flag takes the resource's address (for --request: the app's); without it the address is left zero for you to fill in.\n\n\
        Examples:\n  \
        decloud order init --app 0x5a0b...\n  \
        decloud order init --workerpool 0x9c2e... --file pool.toml\n  \
        decloud order init --request 0x5a0b... --wallet requester"
    )]
    Init(init::InitArgs),
    /// Sign orders of decloud.toml with the wallet and write them to orders.json.
    #[command(after_help = "Examples:\n  \
        decloud order sign --app\n  \
        decloud order sign                   # every section of decloud.toml\n  \
        decloud order sign --workerpool --wallet scheduler --out pool-orders.json")]
    Sign(sign::SignArgs),
    /// Publish signed orders of orders.json to the market.
    #[command(after_help = "Examples:\n  \
        decloud order publish --app\n  \
        decloud order publish --workerpool --orders pool-orders.json --market http://market:7600")]
    Publish(publish::PublishArgs),
    /// Cancel orders for good on chain (manage*Order) and withdraw them from the market.
    #[command(after_help = "Examples:\n  \
        decloud order cancel --app                       # the app order of orders.json\n  \
        decloud order cancel --hash 0x1f3e...            # an order the market has")]
    Cancel(cancel::CancelArgs),
    /// Show an order: what the market holds and its status on chain.
    #[command(
        after_help = "Examples:\n  decloud order show 0x1f3e...\n  decloud order show 0x1f3e... --json"
    )]
    Show(show::ShowArgs),
}

/// Runs `decloud order <verb>`.
pub(crate) async fn run(args: OrderArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        OrderCommand::Init(args) => init::run(args, home),
        OrderCommand::Sign(args) => sign::run(args, home, json).await,
        OrderCommand::Publish(args) => publish::run(args, home, json).await,
        OrderCommand::Cancel(args) => cancel::run(args, home, json).await,
        OrderCommand::Show(args) => show::run(args, home, json).await,
    }
}
