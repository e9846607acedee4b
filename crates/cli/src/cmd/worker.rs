//! `decloud worker join | leave | show`: a worker's membership of a workerpool's registry on
//! the hub (a scheduler serves only its pool's members), and `decloud workerpool admit | remove
//! | set-min-stake` for the pool's owner.

use std::path::Path;

use alloy::primitives::{Address, B256};
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::actions::{self, Membership};
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

/// Prints the membership after a transaction.
fn report(m: &Membership, tx: Option<B256>, json: bool, done: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&to_json(m, tx));
    }
    match tx {
        Some(tx) => println!("{done} (transaction {tx})"),
        None => println!("{done}"),
    }
    print_membership(m);
    Ok(())
}

/// Connects with the wallet, runs `op` under a spinner, and reads `worker`'s membership after.
async fn on_chain(
    signer: &SignerOpts,
    home: &Path,
    json: bool,
    workerpool: Address,
    worker: Option<Address>,
    what: &str,
    op: impl AsyncFnOnce(&Client) -> anyhow::Result<Option<B256>>,
) -> anyhow::Result<(Membership, Option<B256>)> {
    let wallet = signer.wallet.unlock(home)?;
    let worker = worker.unwrap_or(wallet.address());
    let bar = spinner(what, json);
    let result = async {
        let client = signer.rpc.connect(home, Some(wallet)).await?;
        let tx = op(&client).await?;
        anyhow::Ok((actions::membership(&client, workerpool, worker).await?, tx))
    }
    .await;
    bar.finish_and_clear();
    result
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
            let (m, tx) = on_chain(
                &signer,
                home,
                json,
                workerpool,
                None,
                "joining",
                async |c| {
                    let receipt = actions::join_pool(c, workerpool, stake).await?;
                    Ok(Some(receipt.transaction_hash))
                },
            )
            .await?;
            report(
                &m,
                tx,
                json,
                &format!("joined {workerpool} with {}", format_amount(stake)),
            )
        }
        WorkerCommand::Leave { workerpool, signer } => {
            let mut done = String::new();
            let (m, tx) = on_chain(&signer, home, json, workerpool, None, "leaving", async |c| {
                let me = c.address().unwrap_or_default();
                let m = actions::membership(c, workerpool, me).await?;
                if m.joined_at == 0 {
                    bail!("{me} is not a member of workerpool {workerpool}: nothing to leave");
                }
                if m.leaving_at == 0 {
                    let receipt = actions::leave_pool(c, workerpool).await?;
                    done = format!("left {workerpool}");
                    return Ok(Some(receipt.transaction_hash));
                }
                let now = unix_now();
                if now < m.leaving_at {
                    bail!(
                        "the stake in {workerpool} unlocks at {} (in {} s): run `decloud worker leave --workerpool {workerpool}` again then",
                        m.leaving_at,
                        m.leaving_at - now
                    );
                }
                let receipt = actions::withdraw_pool_stake(c, workerpool).await?;
                done = format!("took {} back from {workerpool}", format_amount(m.stake));
                Ok(Some(receipt.transaction_hash))
            })
            .await?;
            report(&m, tx, json, &done)
        }
        WorkerCommand::Show {
            address,
            workerpool,
            wallet,
            rpc,
        } => {
            let worker = match address {
                Some(a) => a,
                None => wallet.address(home)?,
            };
            let bar = spinner("reading the membership", json);
            let result = async {
                let client = rpc.connect(home, None).await?;
                anyhow::Ok(actions::membership(&client, workerpool, worker).await?)
            }
            .await;
            bar.finish_and_clear();
            let m = result?;
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
    match verb {
        MemberVerbs::Admit {
            worker,
            workerpool,
            cap,
            signer,
        } => {
            if cap == 0 || cap > u64::from(u16::MAX) {
                bail!("--cap {cap} is out of range: give 1 to {}", u16::MAX);
            }
            let (m, tx) = on_chain(
                &signer,
                home,
                json,
                workerpool,
                Some(worker),
                "admitting",
                async |c| {
                    Ok(Some(
                        actions::admit_worker(c, workerpool, worker, cap)
                            .await?
                            .transaction_hash,
                    ))
                },
            )
            .await?;
            report(&m, tx, json, &format!("admitted {worker} to {workerpool}"))
        }
        MemberVerbs::Remove {
            worker,
            workerpool,
            signer,
        } => {
            let (m, tx) = on_chain(
                &signer,
                home,
                json,
                workerpool,
                Some(worker),
                "removing",
                async |c| {
                    Ok(Some(
                        actions::remove_worker(c, workerpool, worker)
                            .await?
                            .transaction_hash,
                    ))
                },
            )
            .await?;
            report(&m, tx, json, &format!("removed {worker} from {workerpool}"))
        }
        MemberVerbs::SetMinStake {
            amount,
            workerpool,
            signer,
        } => {
            let amount = parse_amount(&amount)?;
            let (m, tx) = on_chain(
                &signer,
                home,
                json,
                workerpool,
                None,
                "setting the minimum",
                async |c| {
                    Ok(Some(
                        actions::set_min_worker_stake(c, workerpool, amount)
                            .await?
                            .transaction_hash,
                    ))
                },
            )
            .await?;
            if json {
                return print_json(&json!({
                    "workerpool": workerpool,
                    "min_stake": m.min_stake.to_string(),
                    "transaction": tx,
                }));
            }
            println!(
                "workerpool {workerpool}: workers now lock at least {} to join (transaction {})",
                format_amount(m.min_stake),
                tx.unwrap_or_default()
            );
            Ok(())
        }
    }
}
