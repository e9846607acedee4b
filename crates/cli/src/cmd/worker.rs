//! `decloud worker join | leave | show`: a worker's membership of a workerpool's registry on
//! the hub (a scheduler serves only its pool's members), and `decloud workerpool admit | remove
//! | set-min-stake` for the pool's owner.

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionReceipt;
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::actions::{self, Membership, RegistryTx};
use decloud_chain::client::Client;
use decloud_protocol::{format_amount, parse_amount};
use serde_json::json;

use super::shared::{RpcOpts, SignerOpts, WalletAddressOpts, print_json, spinner, unix_now};

/// Arguments of `decloud worker`.
#[derive(Args)]
pub(crate) struct WorkerArgs {
    #[command(subcommand)]
    command: WorkerCommand,
}

#[derive(Subcommand)]
enum WorkerCommand {
    /// Join a workerpool: lock a stake (at least the pool's minimum) from the escrow account,
    /// depositing what it lacks from the wallet. The stake pays for the replicates the worker
    /// may hold at once: one per minimum.
    #[command(after_help = "Examples:\n  \
        decloud worker join --workerpool 0x9c2e... --stake 10DCT\n  \
        decloud worker join --workerpool 0x9c2e... --stake 4DCT --wallet worker1 --json")]
    Join {
        /// The workerpool.
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Address,
        /// Stake to lock: nano-units, or tokens with a DCT suffix.
        #[arg(long)]
        stake: String,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Leave a workerpool (its scheduler stops serving the worker at once); run it again once
    /// the stake has unlocked to take it back into the escrow account.
    #[command(after_help = "Examples:\n  \
        decloud worker leave --workerpool 0x9c2e...\n  \
        decloud worker leave --workerpool 0x9c2e... --wallet worker1 --json")]
    Leave {
        /// The workerpool.
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Address,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Show a worker's membership of a workerpool: stake, cap, since when, and whether the
    /// pool's scheduler serves it.
    #[command(after_help = "Examples:\n  \
        decloud worker show --workerpool 0x9c2e...\n  \
        decloud worker show 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --workerpool 0x9c2e... --json")]
    Show {
        /// The worker (default: the wallet's address).
        address: Option<Address>,
        /// The workerpool.
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Address,
        #[command(flatten)]
        wallet: WalletAddressOpts,
        #[command(flatten)]
        rpc: RpcOpts,
    },
}

/// The pool owner's verbs of `decloud workerpool` (flattened into its subcommands).
#[derive(Subcommand)]
pub(crate) enum MemberVerbs {
    /// Admit a worker without a stake, with at most `--cap` replicates at once (the owner's
    /// allow-list); admitting a member again changes its cap.
    #[command(after_help = "Examples:\n  \
        decloud workerpool admit 0x7099... --workerpool 0x9c2e... --cap 4")]
    Admit {
        /// The worker.
        worker: Address,
        /// The workerpool (owned by the wallet).
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Address,
        /// Replicates it may hold at once.
        #[arg(long, default_value_t = 1)]
        cap: u64,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Remove a worker from the pool: its scheduler stops serving it, and a staked worker takes
    /// its stake back after the hub's leave delay.
    #[command(after_help = "Examples:\n  \
        decloud workerpool remove 0x7099... --workerpool 0x9c2e...")]
    Remove {
        /// The worker.
        worker: Address,
        /// The workerpool (owned by the wallet).
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Address,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Set the smallest stake a worker locks to join (0: only admitted workers).
    #[command(
        name = "set-min-stake",
        after_help = "Examples:\n  \
        decloud workerpool set-min-stake 5DCT --workerpool 0x9c2e..."
    )]
    SetMinStake {
        /// Minimum stake: nano-units, or tokens with a DCT suffix.
        amount: String,
        /// The workerpool (owned by the wallet).
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Address,
        #[command(flatten)]
        signer: SignerOpts,
    },
}

/// Prints a membership as `decloud worker show` does.
fn print_membership(m: &Membership) {
    println!("worker:     {}", m.worker);
    println!("workerpool: {}", m.workerpool);
    let state = if m.is_member() {
        format!("member, up to {} replicate(s) at once", m.capacity())
    } else if m.leaving_at != 0 {
        format!("left; the stake unlocks at {} (unix time)", m.leaving_at)
    } else if m.joined_at == 0 {
        "not a member".to_owned()
    } else {
        "not served: stake below the pool's minimum".to_owned()
    };
    println!("status:     {state}");
    println!("stake:      {}", format_amount(m.stake));
    println!("minimum:    {}", format_amount(m.min_stake));
    if m.admitted {
        println!("admitted:   yes, cap {}", m.cap);
    }
    if m.joined_at != 0 {
        println!("since:      {} (unix time)", m.joined_at);
    }
}

fn to_json(m: &Membership, transaction: Option<B256>) -> serde_json::Value {
    json!({
        "worker": m.worker,
        "workerpool": m.workerpool,
        "member": m.is_member(),
        "capacity": m.capacity(),
        "stake": m.stake.to_string(),
        "min_stake": m.min_stake.to_string(),
        "joined_at": m.joined_at,
        "leaving_at": m.leaving_at,
        "admitted": m.admitted,
        "cap": m.cap,
        "transaction": transaction,
    })
}

/// Prints the membership after transaction `tx`, which did `done`.
fn report(m: &Membership, tx: B256, json: bool, done: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&to_json(m, Some(tx)));
    }
    println!("{done} (transaction {tx})");
    print_membership(m);
    Ok(())
}

/// Unlocks the wallet, connects, runs `op` (a transaction; it says what it did) under a
/// spinner, then reads the membership of `worker` (the wallet's by default) in `workerpool`.
async fn on_chain(
    signer: &SignerOpts,
    home: &Path,
    (workerpool, worker): (Address, Option<Address>),
    json: bool,
    op: impl AsyncFnOnce(&Client) -> anyhow::Result<(TransactionReceipt, String)>,
) -> anyhow::Result<()> {
    let wallet = signer.wallet.unlock(home)?;
    let worker = worker.unwrap_or(wallet.address());
    let bar = spinner("sending the transaction", json);
    let result = async {
        let client = signer.rpc.connect(home, Some(wallet)).await?;
        let (receipt, done) = op(&client).await?;
        let m = actions::membership(&client, workerpool, worker).await?;
        anyhow::Ok((m, receipt.transaction_hash, done))
    }
    .await;
    bar.finish_and_clear();
    let (m, tx, done) = result?;
    report(&m, tx, json, &done)
}

/// Leaves `workerpool`, or takes the stake back once it has unlocked.
async fn leave(c: &Client, workerpool: Address) -> anyhow::Result<(TransactionReceipt, String)> {
    let me = c.address().unwrap_or_default();
    let m = actions::membership(c, workerpool, me).await?;
    if m.joined_at == 0 {
        bail!("{me} is not a member of workerpool {workerpool}: nothing to leave");
    }
    if m.leaving_at == 0 {
        let receipt = actions::registry(c, RegistryTx::Leave(workerpool)).await?;
        return Ok((receipt, format!("left {workerpool}")));
    }
    let now = unix_now();
    if now < m.leaving_at {
        bail!(
            "the stake in {workerpool} unlocks at {} (in {} s): run `decloud worker leave --workerpool {workerpool}` again then",
            m.leaving_at,
            m.leaving_at - now
        );
    }
    let receipt = actions::registry(c, RegistryTx::WithdrawStake(workerpool)).await?;
    let done = format!("took {} back from {workerpool}", format_amount(m.stake));
    Ok((receipt, done))
}

/// Runs `decloud worker <verb>` with data under `home`.
pub(crate) async fn run(args: WorkerArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        WorkerCommand::Join {
            workerpool,
            stake,
            signer,
        } => {
            let stake = parse_amount(&stake)?;
            if stake.is_zero() {
                bail!(
                    "a stake of 0 joins nothing: give at least the pool's minimum (`decloud worker show --workerpool {workerpool}` shows it)"
                );
            }
            on_chain(&signer, home, (workerpool, None), json, async |c| {
                let receipt = actions::join_pool(c, workerpool, stake).await?;
                Ok((
                    receipt,
                    format!("joined {workerpool} with {}", format_amount(stake)),
                ))
            })
            .await
        }
        WorkerCommand::Leave { workerpool, signer } => {
            on_chain(&signer, home, (workerpool, None), json, async |c| {
                leave(c, workerpool).await
            })
            .await
        }
        WorkerCommand::Show {
            address,
            workerpool,
            wallet,
            rpc,
        } => {
            let worker = address.map_or_else(|| wallet.address(home), Ok)?;
            let client = rpc.connect(home, None).await?;
            let m = actions::membership(&client, workerpool, worker).await?;
            if json {
                print_json(&to_json(&m, None))
            } else {
                print_membership(&m);
                Ok(())
            }
        }
    }
}

/// Runs the pool owner's membership verbs of `decloud workerpool`.
pub(crate) async fn run_members(verb: MemberVerbs, home: &Path, json: bool) -> anyhow::Result<()> {
    let (signer, workerpool, worker) = match &verb {
        MemberVerbs::Admit {
            signer,
            workerpool,
            worker,
            ..
        }
        | MemberVerbs::Remove {
            signer,
            workerpool,
            worker,
        } => (signer, *workerpool, Some(*worker)),
        MemberVerbs::SetMinStake {
            signer, workerpool, ..
        } => (signer, *workerpool, None),
    };
    let min_stake = match &verb {
        MemberVerbs::SetMinStake { amount, .. } => parse_amount(amount)?,
        _ => U256::ZERO,
    };
    if let MemberVerbs::Admit { cap, .. } = verb
        && (cap == 0 || cap > u64::from(u16::MAX))
    {
        bail!("--cap {cap} is out of range: give 1 to {}", u16::MAX);
    }
    on_chain(signer, home, (workerpool, worker), json, async |c| {
        Ok(match &verb {
            MemberVerbs::Admit { worker, cap, .. } => (
                actions::registry(
                    c,
                    RegistryTx::Admit {
                        workerpool,
                        worker: *worker,
                        cap: *cap,
                    },
                )
                .await?,
                format!("admitted {worker} to {workerpool} with a cap of {cap}"),
            ),
            MemberVerbs::Remove { worker, .. } => (
                actions::registry(
                    c,
                    RegistryTx::Remove {
                        workerpool,
                        worker: *worker,
                    },
                )
                .await?,
                format!("removed {worker} from {workerpool}"),
            ),
            MemberVerbs::SetMinStake { .. } => (
                actions::registry(c, RegistryTx::SetMinStake(workerpool, min_stake)).await?,
                format!(
                    "workers now lock at least {} to join {workerpool}",
                    format_amount(min_stake)
                ),
            ),
        })
    })
    .await
}
