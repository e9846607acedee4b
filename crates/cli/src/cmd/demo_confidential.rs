//! `decloud demo --confidential`: no single key holder, and the code goes to the data. Five
//! keepers (k = 3) each hold one share of every key; a dataset stays on its owner's machine
//! (registered by checksum, read by the owner's own worker); the app is encrypted, its key split
//! among the keepers; two keepers are stopped mid-demo and the TEE task still gets three
//! releases and three attestations; the result is encrypted to the requester, who alone opens
//! it (docs/confidential.md). Everything runs on this machine and stops when the demo ends.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, bail};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_client::lookup::{TaskStatus, scheduler_view};
use decloud_local::Devnet;
use decloud_local::pool::{APP_OWNER, DealRequest, POOL_OWNER, Pool, PoolOptions, REQUESTER};
use decloud_protocol::tee::PACKED_ATTESTATION_BYTES;
use serde_json::json;

use super::shared::{Untrusted, print_json};

/// Keepers in the group (n) and shares an enclave needs (k).
const KEEPERS: usize = 5;
const THRESHOLD: usize = 3;

fn say(json: bool, text: impl AsRef<str>) {
    if !json {
        println!("{}", text.as_ref());
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Runs the confidential demo with the csv-stats app read from `app_wasm`.
pub(crate) async fn run(app_wasm: &Path, timeout: Duration, json: bool) -> anyhow::Result<()> {
    let module = std::fs::read(app_wasm).with_context(|| {
        format!(
            "cannot read {}: run scripts/build-apps, or pass --apps <dir>",
            app_wasm.display()
        )
    })?;
    say(
        json,
        format!(
            "decloud demo --confidential: {KEEPERS} keepers (any {THRESHOLD} rebuild a key), a dataset that never leaves its owner's machine, an encrypted app\n"
        ),
    );
    let devnet = Devnet::start().await?;
    let profile = devnet.profile().clone();
    // No pool workers: the only worker is the data owner's, started beside its data below.
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            follow_interval: Duration::from_millis(200),
            tee: Some(decloud_tee::TeeKind::Sim),
            keepers: KEEPERS,
            ..PoolOptions::default()
        },
    )
    .await?;
    let urls = pool.keeper_urls();
    let keepers = urls
        .iter()
        .map(|u| decloud_client::secret::SmsClient::new(u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keeper_addresses = Vec::new();
    for (i, keeper) in keepers.iter().enumerate() {
        let info = keeper.info().await?;
        keeper_addresses.push(info.attester);
        say(
            json,
            format!(
                "  keeper {}: {} (staked attester {})",
                i + 1,
                keeper.url(),
                info.attester
            ),
        );
    }

    // The data owner: the file stays here; only its checksum goes on chain.
    let owners_machine = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_path = owners_machine.path().join("prices.csv");
    let csv = "day,price,note\n1,10,confidential\n2,20,x\n3,30,y\n4,40,z\n";
    std::fs::write(&data_path, csv).context("cannot write the demo's dataset")?;
    let dataset = pool
        .deploy_local_dataset("prices.csv", csv.as_bytes())
        .await?;
    say(
        json,
        format!(
            "✓ data owner: registered the local dataset {dataset} (its checksum only; the file stays at {})",
            data_path.display()
        ),
    );

    // The app developer: only the ciphertext leaves; the key is split among the keepers.
    let app_key = decloud_age::Identity::generate()?;
    let sealed = decloud_client::encrypted_app::seal(&module, &app_key)?;
    let uri = decloud_client::encrypted_app::upload(&pool.storage_url, &sealed).await?;
    let developer = Client::connect(&profile, None, Some(devnet.signer(APP_OWNER))).await?;
    let mrenclave = B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0);
    let app = decloud_chain::actions::register_app(
        &developer,
        "csv-stats",
        &uri,
        sealed.checksum,
        mrenclave,
    )
    .await?;
    say(
        json,
        format!(
            "✓ app developer: encrypted csv-stats (age), uploaded only the ciphertext, registered app {app} with the plaintext's checksum {}",
            sealed.checksum
        ),
    );
    decloud_client::secret::push_app_key_to_keepers(
        &keepers,
        THRESHOLD,
        &devnet.signer(APP_OWNER),
        app,
        &app_key,
    )
    .await?;
    drop(app_key);
    say(
        json,
        format!(
            "✓ app developer: split the app's key {THRESHOLD}-of-{KEEPERS}, one share sealed to each keeper (fewer than {THRESHOLD} learn nothing)"
        ),
    );

    // The requester's result key: public, so each keeper holds it whole.
    let result_key = decloud_age::Identity::generate()?;
    for keeper in &keepers {
        keeper
            .push_result_recipient(
                &devnet.signer(REQUESTER),
                &result_key.recipient().to_string(),
                now(),
            )
            .await?;
    }
    say(
        json,
        "✓ requester: gave every keeper the public key its results are encrypted to (age)",
    );

    // The data owner's worker, beside its data, runs sim enclaves and asks all five keepers.
    let owner_signer = decloud_chain::accounts::dev_signer(decloud_local::pool::DATASET_OWNER);
    let owner = owner_signer.address();
    decloud_local::pool::make_members(
        &profile,
        None,
        Some(&decloud_chain::accounts::dev_signer(POOL_OWNER)),
        pool.workerpool,
        std::slice::from_ref(&owner_signer),
        1,
    )
    .await?;
    let scheduler_url = pool
        .scheduler_url()
        .context("the scheduler is not running")?;
    let mut config = decloud_worker::WorkerConfig::new(
        &scheduler_url,
        profile.clone(),
        owner_signer,
        owners_machine.path().join("worker"),
        &pool.storage_url,
    );
    config.allow_private_hosts = true;
    config.claim_wait = Duration::from_secs(2);
    config.stake_reserve = alloy::primitives::U256::from(300_000_000_000u64);
    config.local_data = vec![(dataset, data_path.clone())];
    config.tee = Some(decloud_worker::TeeConfig {
        attester: std::sync::Arc::new(decloud_tee::sim::SimAttester::new(profile.chain_id)?),
        sms_urls: urls.clone(),
    });
    let worker = decloud_worker::start(config).await?;
    say(
        json,
        format!(
            "✓ data owner: its worker {owner} runs beside the data (--data {dataset}=...), a sim enclave, asking all {KEEPERS} keepers"
        ),
    );

    // Two keepers go down: n − k of them may.
    pool.stop_keeper(3).await;
    pool.stop_keeper(4).await;
    say(
        json,
        format!(
            "✗ keepers 4 and 5 stopped ({} and {}): {THRESHOLD} of {KEEPERS} remain, enough",
            urls[3], urls[4]
        ),
    );

    let chain = Client::connect(&profile, None, None).await?;
    let deal = pool
        .deal(
            &DealRequest::new(app)
                .dataset(dataset)
                .attestations(THRESHOLD),
        )
        .await?;
    let task = deal.task_ids()[0];
    say(
        json,
        format!(
            "✓ requester: matched a TEE deal on the local dataset and the encrypted app, {THRESHOLD} attestations required: task {task}"
        ),
    );

    // Live: what the scheduler and the chain say, each change once.
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last = String::new();
    loop {
        let status = chain
            .read("reading a task", chain.hub().task(task))
            .await?
            .status;
        if status == TaskStatus::Completed.as_u8() {
            break;
        }
        if status == TaskStatus::Failed.as_u8() {
            bail!("task {task} failed");
        }
        let report = scheduler_view(&scheduler_url, task).await;
        let line = match report.as_ref().and_then(|r| r.replicates.first()) {
            None => "waiting for the data owner's worker".to_string(),
            Some(r) => match &r.reason {
                Some(reason) => format!("worker {}: {}", r.status, Untrusted(reason)),
                None => format!(
                    "worker {}: enclave keys, evidence, releases from the keepers, run",
                    r.status
                ),
            },
        };
        if line != last {
            say(json, format!("  … {line}"));
            if report
                .as_ref()
                .and_then(|r| r.replicates.first())
                .is_some_and(|r| r.reason.is_some())
            {
                bail!("the task did not run: {line}");
            }
            last = line;
        }
        if Instant::now() > deadline {
            bail!(
                "the task did not complete within {} s: see `decloud task show {task}`",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    worker.stop().await;

    // The signed result on chain: the attestations it carried, and its gas.
    let contributed = finalizing_tx(&chain, task).await?;
    let (attestations, attesters) = attesters_of(&contributed.input, task, &chain, mrenclave)?;
    let mut named: Vec<String> = attesters
        .iter()
        .map(|a| match keeper_addresses.iter().position(|k| k == a) {
            Some(i) => format!("keeper {}", i + 1),
            None => a.to_string(),
        })
        .collect();
    named.sort();
    say(
        json,
        format!(
            "✓ the enclave signed the result; contributeAndFinalize carried {attestations} attestations ({}), {} gas; certified and paid {:.1} s after the match",
            named.join(", "),
            contributed.gas,
            took.as_secs_f64()
        ),
    );

    // Only the requester opens it.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let refused = decloud_client::result::fetch_verified(
        &chain,
        task,
        &scratch.path().join("x"),
        1 << 20,
        None,
    )
    .await
    .is_err();
    let dir = scratch.path().join("result");
    let verified =
        decloud_client::result::fetch_verified(&chain, task, &dir, 1 << 20, Some(&result_key))
            .await?;
    let stats = std::fs::read_to_string(dir.join("stats.json")).unwrap_or_default();
    let match_gas = deal.matched.receipt.gas_used;
    if json {
        return print_json(&json!({
            "keepers": KEEPERS,
            "threshold": THRESHOLD,
            "stopped": [4, 5],
            "dataset": dataset,
            "app": app,
            "app_checksum": sealed.checksum,
            "task_id": task,
            "attestations": attestations,
            "attested_by": named,
            "encrypted": verified.encrypted,
            "opens_without_the_key": !refused,
            "result": stats.trim(),
            "gas": {"matchOrders": match_gas, "contributeAndFinalize": contributed.gas},
            "seconds": took.as_secs_f64(),
        }));
    }
    println!(
        "✓ requester: the result is stored encrypted ({}); without its key it does not open ({}); with it:",
        if verified.encrypted {
            "age"
        } else {
            "NOT encrypted"
        },
        if refused { "refused" } else { "OPENED" }
    );
    for line in stats.trim().lines() {
        println!("    {}", Untrusted(line));
    }
    println!(
        "\ngas: matchOrders {match_gas}, contributeAndFinalize {} (k = {THRESHOLD})",
        contributed.gas
    );
    eprintln!("\ndone: the chain, the keepers and every service stop now.");
    drop(pool);
    drop(devnet);
    Ok(())
}

/// A mined transaction: its input and gas.
struct MinedTx {
    input: Vec<u8>,
    gas: u64,
}

/// The `contributeAndFinalize` transaction of `task`, found by its `TaskFinalize` event.
async fn finalizing_tx(chain: &Client, task: B256) -> anyhow::Result<MinedTx> {
    let filter = alloy::rpc::types::Filter::new()
        .address(chain.profile().contracts.hub)
        .event_signature(IHub::TaskFinalize::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    let logs = chain
        .provider()
        .get_logs(&filter)
        .await
        .map_err(|e| chain.rpc_error("reading the task's events", &e))?;
    let hash = logs
        .first()
        .and_then(|l| l.transaction_hash)
        .context("the task's TaskFinalize event is missing")?;
    let tx = chain
        .provider()
        .get_transaction_by_hash(hash)
        .await
        .map_err(|e| chain.rpc_error("reading the transaction", &e))?
        .context("the finalizing transaction is missing")?;
    let receipt = chain
        .provider()
        .get_transaction_receipt(hash)
        .await
        .map_err(|e| chain.rpc_error("reading the receipt", &e))?
        .context("the finalizing receipt is missing")?;
    use alloy::consensus::Transaction as _;
    Ok(MinedTx {
        input: tx.inner.input().to_vec(),
        gas: receipt.gas_used,
    })
}

/// How many attestations a `contributeAndFinalize` input carried, and who signed them (each
/// recovered from the `EnclaveAttested` it signs, as the hub does).
fn attesters_of(
    input: &[u8],
    task: B256,
    chain: &Client,
    measurement: B256,
) -> anyhow::Result<(usize, Vec<Address>)> {
    let call = IHub::contributeAndFinalizeCall::abi_decode(input)
        .context("the finalizing transaction is not contributeAndFinalize")?;
    let sign = &call.r.enclaveSign;
    let packed = sign.get(65..).unwrap_or_default();
    let domain = decloud_protocol::order::Domain::new(
        chain.profile().chain_id,
        chain.profile().contracts.hub,
    );
    let mut attesters = Vec::new();
    for a in packed.chunks(PACKED_ATTESTATION_BYTES) {
        let (Some((&tcb, rest)), true) = (a.split_first(), a.len() == PACKED_ATTESTATION_BYTES)
        else {
            continue;
        };
        let expiry = u64::from_be_bytes(rest[..8].try_into().unwrap_or_default());
        let message = decloud_protocol::tee::EnclaveAttested {
            taskId: task,
            enclave: call.r.enclave,
            measurement,
            tcbStatus: tcb,
            expiry,
            evidenceHash: B256::from_slice(&rest[8..40]),
        };
        let signed = decloud_protocol::tee::SignedAttestation::verified(
            &message,
            &domain,
            rest[40..].to_vec().into(),
        )?;
        attesters.push(signed.attester);
    }
    Ok((packed.len() / PACKED_ATTESTATION_BYTES, attesters))
}
