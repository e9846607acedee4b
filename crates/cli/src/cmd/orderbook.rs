//! `decloud orderbook app | dataset | workerpool | request`: the market's open orders, cheapest
//! first.

use alloy::primitives::{Address, U256};
use clap::{Args, Subcommand};
use decloud_market::{BookEntry, BookQuery, OrderKind, OrderStatus};
use decloud_protocol::{Tag, format_amount};

use super::shared::{MarketOpts, print_json, table};

/// Arguments of `decloud orderbook`.
#[derive(Args)]
pub(crate) struct OrderbookArgs {
    #[command(subcommand)]
    command: OrderbookCommand,
}

#[derive(Subcommand)]
enum OrderbookCommand {
    /// App orders (of one app, or of every app).
    #[command(
        after_help = "Examples:\n  decloud orderbook app 0x5a0b...\n  decloud orderbook app --json"
    )]
    App(Filters),
    /// Dataset orders.
    #[command(
        after_help = "Examples:\n  decloud orderbook dataset 0x3f1c...\n  decloud orderbook dataset --max-price 1DCT"
    )]
    Dataset(Filters),
    /// Workerpool orders: computing power on offer.
    #[command(after_help = "Examples:\n  \
        decloud orderbook workerpool --category 0 --trust 1\n  \
        decloud orderbook workerpool 0x9c2e... --json")]
    Workerpool(Filters),
    /// Request orders (of one app, or of every app).
    #[command(
        after_help = "Examples:\n  decloud orderbook request 0x5a0b...\n  decloud orderbook request --signer 0x7099... --all"
    )]
    Request(Filters),
}

/// Filters of an order-book query.
#[derive(Args)]
struct Filters {
    /// Only orders for this resource (for requests: this app).
    resource: Option<Address>,
    /// Only orders signed by this account.
    #[arg(long)]
    signer: Option<Address>,
    /// Only orders of this category.
    #[arg(long)]
    category: Option<u64>,
    /// Workerpools offering at least this trust; requests asking at most this.
    #[arg(long)]
    trust: Option<u64>,
    /// Only orders naming this workerpool.
    #[arg(long)]
    workerpool: Option<Address>,
    /// Only orders naming this dataset.
    #[arg(long)]
    dataset: Option<Address>,
    /// Only orders at most this price (nano-units, or tokens with a DCT suffix).
    #[arg(long, value_name = "AMOUNT")]
    max_price: Option<String>,
    /// Include orders that are filled, cancelled or dead.
    #[arg(long)]
    all: bool,
    /// Page number, from 0.
    #[arg(long, default_value_t = 0)]
    page: u32,
    /// Orders per page (at most 200).
    #[arg(long, default_value_t = decloud_market::db::DEFAULT_PAGE_SIZE)]
    page_size: u32,
    #[command(flatten)]
    market: MarketOpts,
}

/// Runs `decloud orderbook <kind>`.
pub(crate) async fn run(
    args: OrderbookArgs,
    home: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    let (kind, f) = match args.command {
        OrderbookCommand::App(f) => (OrderKind::App, f),
        OrderbookCommand::Dataset(f) => (OrderKind::Dataset, f),
        OrderbookCommand::Workerpool(f) => (OrderKind::Workerpool, f),
        OrderbookCommand::Request(f) => (OrderKind::Request, f),
    };
    let max_price = match &f.max_price {
        Some(text) => {
            let v = decloud_protocol::parse_amount(text)?;
            Some(u64::try_from(v).unwrap_or(u64::MAX))
        }
        None => None,
    };
    let query = BookQuery {
        resource: f.resource,
        signer: f.signer,
        category: f.category,
        trust: f.trust,
        workerpool: f.workerpool,
        dataset: f.dataset,
        max_price,
        all: f.all,
        page: f.page,
        page_size: Some(f.page_size),
    };
    let market = f.market.client(home)?;
    let page = market.orderbook(kind, &query).await?;
    if json {
        return print_json(&page);
    }
    if page.orders.is_empty() {
        println!(
            "no {} order in the book of {}{}",
            kind.as_str(),
            market.url(),
            if f.page > 0 { " on this page" } else { "" }
        );
        return Ok(());
    }
    println!("{}", render(kind, &page.orders, f.all));
    if page.orders.len() as u32 >= f.page_size {
        println!("(more on --page {})", f.page + 1);
    }
    Ok(())
}

fn render(kind: OrderKind, orders: &[BookEntry], with_status: bool) -> comfy_table::Table {
    let resource = match kind {
        OrderKind::Request => "app",
        other => other.as_str(),
    };
    let price = if kind == OrderKind::Request {
        "pool max price"
    } else {
        "price"
    };
    let mut headers = vec!["hash", resource, price, "remaining"];
    if matches!(kind, OrderKind::Workerpool | OrderKind::Request) {
        headers.extend(["category", "trust"]);
    }
    headers.push("tag");
    if with_status {
        headers.push("status");
    }
    let mut t = table(headers);
    for o in orders {
        let mut row = vec![
            o.hash.to_string(),
            o.resource.to_string(),
            format_amount(U256::from(o.price)),
            format!("{}/{}", o.remaining, o.volume),
        ];
        if matches!(kind, OrderKind::Workerpool | OrderKind::Request) {
            row.push(o.category.map(|c| c.to_string()).unwrap_or_default());
            row.push(o.trust.map(|c| c.to_string()).unwrap_or_default());
        }
        row.push(Tag(o.tag).to_string());
        if with_status {
            row.push(status(o.status).into());
        }
        t.add_row(row);
    }
    t
}

fn status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Open => "open",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Dead => "dead",
    }
}
