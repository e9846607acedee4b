//! `decloud attester register | leave | withdraw | show | list | snapshot | keeper-epoch | challenge`: the hub's
//! registry of attesters, the key holders (SMS nodes) whose `EnclaveAttested` signatures a TEE
//! task needs (k of them, named by the deal's tag), and the challenge that slashes one whose
//! evidence contradicts what it signed. See docs/protocol.md and docs/confidential.md.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::rpc::types::TransactionReceipt;
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::attesters::{self, AttesterInfo};
use decloud_chain::client::Client;
use decloud_protocol::{format_amount, parse_amount};
use serde_json::json;

use decloud_chain::contracts::IHub;
use decloud_client::lookup::find_task;
use decloud_protocol::tee::{AttestationEvidence, SignedAttestation};

use super::shared::{
    RpcOpts, SignerOpts, Untrusted, WalletAddressOpts, parse_b256, print_json, spinner, unix_now,
};

/// Arguments of `decloud attester`.
#[derive(Args)]
pub(crate) struct AttesterArgs {
    #[command(subcommand)]
    command: AttesterCommand,
}

#[derive(Subcommand)]
enum AttesterCommand {
    /// Register the wallet as an attester: lock a stake (at least the hub's minimum) from the
    /// escrow account, depositing what it lacks from the wallet. With --add, add the stake to
    /// an existing registration instead.
    #[command(after_help = "Examples:\n  \
        decloud attester register --stake 100DCT --wallet sms1\n  \
        decloud attester register --stake 50DCT --add --wallet sms1 --json")]
    Register {
        /// Stake to lock: nano-units, or tokens with a DCT suffix.
        #[arg(long)]
        stake: String,
        /// Add to the stake of an attester already registered.
        #[arg(long)]
        add: bool,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Stop attesting: the wallet's attestations stop counting at once; its stake unlocks after
    /// the hub's leave delay (7 days) and stays slashable until then.
    #[command(after_help = "Examples:\n  \
        decloud attester leave --wallet sms1")]
    Leave {
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Take the unlocked stake of a left attester back into the escrow account.
    #[command(after_help = "Examples:\n  \
        decloud attester withdraw --wallet sms1 --json")]
    Withdraw {
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Show one attester: stake, since when, leaving, slashed, whether its attestations count.
    #[command(after_help = "Examples:\n  \
        decloud attester show --wallet sms1\n  \
        decloud attester show 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --json")]
    Show {
        /// The attester (default: the wallet's address).
        address: Option<Address>,
        #[command(flatten)]
        wallet: WalletAddressOpts,
        #[command(flatten)]
        rpc: RpcOpts,
    },
    /// Commit the attester snapshot keeper draws take (anyone may): every attester registered,
    /// not leaving and not slashed. An epoch draws over the last one committed before its draw
    /// time (the middle of the epoch before).
    #[command(after_help = "Examples:\n  \
        decloud attester snapshot --wallet alice\n  \
        decloud attester snapshot --json")]
    Snapshot {
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Show the keeper epoch length and the current epoch; the hub's admin sets the length
    /// once with --set.
    #[command(after_help = "Examples:\n  \
        decloud attester keeper-epoch\n  \
        decloud attester keeper-epoch --set 86400 --wallet admin --json")]
    KeeperEpoch {
        /// Set the length (seconds), once (the hub's admin).
        #[arg(long, value_name = "SECONDS")]
        set: Option<u64>,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Challenge a TEE task's attestations with the evidence they commit to: the hub slashes an
    /// attester whose quote contradicts its statement (a debug TD, another runner, a report_data
    /// that does not bind the task), and refuses the challenge of an honest one. The evidence is
    /// what the task's worker keeps: `attestations/<task>.json` in its data directory (for this
    /// node's workers, found from the task id under $DECLOUD_HOME/workers).
    #[command(after_help = "Examples:\n  \
        decloud attester challenge 0x3b7a... --wallet alice\n  \
        decloud attester challenge --evidence worker-1/attestations/0x3b7a....json \\\n      \
        --attester 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --wallet alice --json")]
    Challenge {
        /// The task whose attestations to challenge (its evidence is looked up under
        /// $DECLOUD_HOME/workers/*/attestations/ unless --evidence names the file).
        task: Option<String>,
        /// The attestations with their evidence: a worker's `attestations/<task>.json` (a list)
        /// or one entry of it.
        #[arg(long, value_name = "FILE")]
        evidence: Option<PathBuf>,
        /// Only this attester's attestation (default: each one in the file).
        #[arg(long)]
        attester: Option<Address>,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// List every registered attester (those that withdrew are left out).
    #[command(after_help = "Examples:\n  \
        decloud attester list\n  \
        decloud attester list --json")]
    List {
        #[command(flatten)]
        rpc: RpcOpts,
    },
}

fn state(a: &AttesterInfo) -> String {
    if a.slashed {
        "slashed".into()
    } else if a.registered_at == 0 {
        "not registered".into()
    } else if a.leaving_at != 0 {
        format!("leaving; the stake unlocks at {} (unix time)", a.leaving_at)
    } else if a.active {
        "active".into()
    } else {
        "not counted: stake below the minimum".into()
    }
}

fn to_json(a: &AttesterInfo, transaction: Option<B256>) -> serde_json::Value {
    json!({
        "address": a.address,
        "stake": a.stake.to_string(),
        "registered_at": a.registered_at,
        "leaving_at": a.leaving_at,
        "slashed": a.slashed,
        "active": a.active,
        "transaction": transaction,
    })
}

fn print_attester(a: &AttesterInfo) {
    println!("attester: {}", a.address);
    println!("status:   {}", state(a));
    println!("stake:    {}", format_amount(a.stake));
    if a.registered_at != 0 {
        println!("since:    {} (unix time)", a.registered_at);
    }
}

/// Unlocks the wallet, connects, runs `op` under a spinner, then shows the wallet's record.
async fn on_chain(
    signer: &SignerOpts,
    home: &Path,
    json: bool,
    op: impl AsyncFnOnce(&Client) -> anyhow::Result<(TransactionReceipt, String)>,
) -> anyhow::Result<()> {
    let wallet = signer.wallet.unlock(home)?;
    let me = wallet.address();
    let bar = spinner("sending the transaction", json);
    let result = async {
        let client = signer.rpc.connect(home, Some(wallet)).await?;
        let (receipt, done) = op(&client).await?;
        let info = attesters::attester(&client, me).await?;
        anyhow::Ok((info, receipt.transaction_hash, done))
    }
    .await;
    bar.finish_and_clear();
    let (info, tx, done) = result?;
    if json {
        return print_json(&to_json(&info, Some(tx)));
    }
    println!("{done} (transaction {tx})");
    print_attester(&info);
    Ok(())
}

/// Runs `decloud attester <verb>` with data under `home`.
pub(crate) async fn run(args: AttesterArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        AttesterCommand::Register { stake, add, signer } => {
            let stake = parse_amount(&stake)?;
            if stake.is_zero() {
                bail!(
                    "a stake of 0 registers nothing: give at least the hub's minimum (`decloud attester list` shows the attesters)"
                );
            }
            on_chain(&signer, home, json, async |c| {
                if add {
                    let receipt = attesters::add_stake(c, stake).await?;
                    return Ok((receipt, format!("added {}", format_amount(stake))));
                }
                let min = attesters::min_stake(c).await?;
                if stake < min {
                    bail!(
                        "a stake of {} is below the attesters' minimum {}: give --stake {} or more",
                        format_amount(stake),
                        format_amount(min),
                        format_amount(min)
                    );
                }
                let receipt = attesters::register(c, stake).await?;
                Ok((receipt, format!("registered with {}", format_amount(stake))))
            })
            .await
        }
        AttesterCommand::Leave { signer } => {
            on_chain(&signer, home, json, async |c| {
                Ok((attesters::leave(c).await?, "leaving".to_owned()))
            })
            .await
        }
        AttesterCommand::Withdraw { signer } => on_chain(&signer, home, json, async |c| {
            let me = c.address().unwrap_or_default();
            let info = attesters::attester(c, me).await?;
            let now = unix_now();
            if info.leaving_at == 0 && !info.slashed && info.registered_at != 0 {
                bail!("{me} has not announced leaving: run `decloud attester leave` first");
            }
            if info.leaving_at > now {
                bail!(
                    "the stake unlocks at {} (in {} s): run `decloud attester withdraw` again then",
                    info.leaving_at,
                    info.leaving_at - now
                );
            }
            let receipt = attesters::withdraw(c).await?;
            Ok((receipt, format!("took {} back", format_amount(info.stake))))
        })
        .await,
        AttesterCommand::Snapshot { signer } => {
            let client = signer.connect(home).await?;
            let bar = spinner("committing the attester snapshot", json);
            let index = decloud_chain::keepers::commit_snapshot(&client).await;
            bar.finish_and_clear();
            let index = index?;
            if json {
                return print_json(&json!({ "snapshot": index }));
            }
            println!("attester snapshot {index} committed");
            Ok(())
        }
        AttesterCommand::KeeperEpoch { set, signer } => {
            let client = match set {
                Some(_) => signer.connect(home).await?,
                None => signer.rpc.connect(home, None).await?,
            };
            if let Some(seconds) = set {
                if seconds == 0 || seconds > u64::from(u32::MAX) {
                    bail!("a keeper epoch of {seconds} s is not one: give 1 to 4294967295 seconds");
                }
                decloud_chain::keepers::set_epoch_length(&client, seconds).await?;
            }
            let length = decloud_chain::keepers::epoch_length(&client).await?;
            let current = if length == 0 {
                None
            } else {
                Some(decloud_chain::keepers::current_epoch(&client).await?)
            };
            if json {
                return print_json(&json!({ "length": length, "epoch": current }));
            }
            match current {
                None => println!(
                    "no keeper epochs yet: the hub's admin sets their length with --set SECONDS"
                ),
                Some(e) => println!("keeper epochs of {length} s; the current one is {e}"),
            }
            Ok(())
        }
        AttesterCommand::Show {
            address,
            wallet,
            rpc,
        } => {
            let who = address.map_or_else(|| wallet.address(home), Ok)?;
            let client = rpc.connect(home, None).await?;
            let info = attesters::attester(&client, who).await?;
            if json {
                print_json(&to_json(&info, None))
            } else {
                print_attester(&info);
                Ok(())
            }
        }
        AttesterCommand::Challenge {
            task,
            evidence,
            attester,
            signer,
        } => challenge(home, task, evidence, attester, &signer, json).await,
        AttesterCommand::List { rpc } => {
            let client = rpc.connect(home, None).await?;
            let min = attesters::min_stake(&client).await?;
            let all = attesters::list(&client).await?;
            if json {
                return print_json(&json!({
                    "min_stake": min.to_string(),
                    "attesters": all.iter().map(|a| to_json(a, None)).collect::<Vec<_>>(),
                }));
            }
            println!("minimum stake: {}", format_amount(min));
            if all.is_empty() {
                println!("no attester registered");
            }
            for a in &all {
                println!(
                    "{}  {:>16}  {}",
                    a.address,
                    format_amount(a.stake),
                    state(a)
                );
            }
            Ok(())
        }
    }
}

/// Reads the attestations of `evidence` (a list or one entry), or of `task` from this home's
/// workers; keeps those of `task` and `attester` when given.
fn load_evidence(
    home: &Path,
    task: Option<B256>,
    evidence: Option<&Path>,
    attester: Option<Address>,
) -> anyhow::Result<(PathBuf, Vec<AttestationEvidence>)> {
    let path = match (evidence, task) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(task)) => std::fs::read_dir(home.join("workers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|worker| decloud_worker::evidence_path(&worker.path(), task))
            .find(|p| p.exists())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no worker under {} kept the attestations of task {task}: give the file with --evidence (the task's worker keeps attestations/<task>.json in its data directory)",
                    home.join("workers").display()
                )
            })?,
        (None, None) => bail!(
            "give the task id or --evidence FILE (a worker's attestations/<task>.json)"
        ),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let all: Vec<AttestationEvidence> = serde_json::from_str::<Vec<AttestationEvidence>>(&text)
        .or_else(|_| serde_json::from_str::<AttestationEvidence>(&text).map(|one| vec![one]))
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is not a worker's attestations file (a list of attestations with their quote, H and nonce): {e}",
                path.display()
            )
        })?;
    let chosen: Vec<AttestationEvidence> = all
        .into_iter()
        .filter(|e| task.is_none_or(|t| e.task_id == t))
        .filter(|e| attester.is_none_or(|a| e.attester == a))
        .collect();
    if chosen.is_empty() {
        bail!(
            "{} holds no attestation{}{}",
            path.display(),
            task.map(|t| format!(" of task {t}")).unwrap_or_default(),
            attester.map(|a| format!(" by {a}")).unwrap_or_default()
        );
    }
    Ok((path, chosen))
}

/// `decloud attester challenge`: each chosen attestation is checked here (its signature over the
/// evidence kept with it), then challenged at the hub; succeeds when at least one attester was
/// slashed, and fails with each refusal otherwise.
async fn challenge(
    home: &Path,
    task: Option<String>,
    evidence: Option<PathBuf>,
    attester: Option<Address>,
    signer: &SignerOpts,
    json: bool,
) -> anyhow::Result<()> {
    let task = task.map(|t| parse_b256(&t, "task id")).transpose()?;
    let (path, chosen) = load_evidence(home, task, evidence.as_deref(), attester)?;
    let client = signer.connect(home).await?;
    let domain = client.domain();
    let mut slashed = Vec::new();
    let mut refused = Vec::new();
    for e in &chosen {
        let statement = e.statement();
        let outcome = async {
            let signed = SignedAttestation::verified(&statement, &domain, e.signature.clone())
                .map_err(|err| anyhow::anyhow!("its signature does not verify: {err}"))?;
            if signed.attester != e.attester {
                bail!(
                    "its signature over the evidence in {} is {}'s, not {}'s: the file was altered or is of another chain",
                    path.display(),
                    signed.attester,
                    e.attester
                );
            }
            let (deal, index) = find_task(&client, e.task_id).await?;
            if index != e.index || deal.deal_id != e.deal_id {
                bail!("task {} is not task {} of deal {}", e.task_id, e.index, e.deal_id);
            }
            let attestation = IHub::EnclaveAttestation {
                taskId: statement.taskId,
                enclave: statement.enclave,
                measurement: statement.measurement,
                tcbStatus: statement.tcbStatus,
                expiry: statement.expiry,
                evidenceHash: statement.evidenceHash,
                sign: e.signature.clone(),
            };
            let bar = spinner("challenging the attestation", json);
            let sent = attesters::challenge(
                &client,
                (&deal.deal).into(),
                index,
                attestation,
                e.quote.clone(),
                e.hpke_public_key,
                e.nonce,
            )
            .await;
            bar.finish_and_clear();
            Ok(sent?)
        }
        .await;
        match outcome {
            Ok(o) => slashed.push(o),
            Err(err) => refused.push((e.attester, format!("{err:#}"))),
        }
    }
    if json {
        print_json(&json!({
            "slashed": slashed.iter().map(|o| json!({
                "attester": o.attester,
                "contradictions": attesters::contradictions(o.contradictions),
                "amount": o.amount.to_string(),
                "reward": o.reward.to_string(),
                "transaction": o.transaction,
            })).collect::<Vec<_>>(),
            "refused": refused.iter().map(|(a, reason)| json!({
                "attester": a, "reason": reason,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for o in &slashed {
            println!(
                "slashed attester {}: {}; seized {}, {} to you (transaction {})",
                o.attester,
                attesters::contradictions(o.contradictions).join("; "),
                format_amount(o.amount),
                format_amount(o.reward),
                o.transaction
            );
        }
        if !slashed.is_empty() {
            for (a, reason) in &refused {
                println!("not slashed {a}: {}", Untrusted(reason.as_str()));
            }
        }
    }
    if slashed.is_empty() {
        let reasons: Vec<String> = refused
            .iter()
            .map(|(a, reason)| format!("{a}: {reason}"))
            .collect();
        bail!("no attester slashed: {}", reasons.join("; "));
    }
    Ok(())
}
