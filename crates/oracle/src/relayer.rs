//! The relayer (`decloud node --relay`): collects the committee's signatures from the signers,
//! and when a delivery has `threshold` of them from current members, carries it to the gateway,
//! many per transaction (`deliverBatch`). It is untrusted: it cannot forge a signature, change a
//! result, its gas cap or its destination; the worst it can do is not deliver, and anyone else can.
//! Deliveries the gateway would refuse (no pass, a pass run out...) are left out of the batch and
//! reported once; they are tried again at the next pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256, keccak256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;

use crate::OracleError;
use crate::contracts::Gateway;
use crate::delivery::{DeliveryWire, SignedDelivery, recover};
use crate::deploy::{first_line, provider};
use crate::profile::DestinationChain;

/// How to run a relayer.
#[derive(Clone, Debug)]
pub struct RelayerConfig {
    /// The destination chain it delivers to.
    pub destination: DestinationChain,
    /// The signers' URLs.
    pub signers: Vec<String>,
    /// The wallet that pays for the deliveries (and earns the consumers' fees).
    pub key: PrivateKeySigner,
    /// Most deliveries per transaction.
    pub batch: usize,
    /// Time between passes.
    pub poll: Duration,
}

struct Pending {
    delivery: DeliveryWire,
    data: Bytes,
    signatures: BTreeMap<Address, Bytes>,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Deliveries carried.
    pub delivered: usize,
    /// Transactions sent.
    pub transactions: usize,
    /// Gas of those transactions (receipts).
    pub gas_used: u64,
    /// Deliveries with enough signatures that the gateway would refuse, with the reason.
    pub refused: Vec<(B256, String)>,
}

/// A relayer's state between passes.
pub struct Relayer {
    config: RelayerConfig,
    provider: DynProvider,
    http: reqwest::Client,
    cursors: HashMap<String, u64>,
    pending: HashMap<B256, Pending>,
    reported: HashSet<B256>,
}

/// The gateway's replay key of a delivery.
pub fn delivery_key(d: &DeliveryWire) -> B256 {
    delivery_key_of(
        d.source_chain_id,
        d.source_hub,
        d.taskid,
        d.consumer,
        d.method,
    )
}

/// The gateway's replay key (`Gateway.deliveryKey`) of task `taskid` of `source_hub` on chain
/// `source_chain_id`, delivered to `consumer.method`.
pub fn delivery_key_of(
    source_chain_id: u64,
    source_hub: Address,
    taskid: B256,
    consumer: Address,
    method: FixedBytes<4>,
) -> B256 {
    keccak256(
        (
            U256::from(source_chain_id),
            source_hub,
            taskid,
            consumer,
            method,
        )
            .abi_encode(),
    )
}

impl Relayer {
    /// A relayer for `config` (nothing is sent yet).
    pub fn new(config: RelayerConfig) -> Result<Self, OracleError> {
        let provider = provider(&config.destination.rpc_url, config.key.clone())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OracleError::Service(e.to_string()))?;
        Ok(Self {
            config,
            provider,
            http,
            cursors: HashMap::new(),
            pending: HashMap::new(),
            reported: HashSet::new(),
        })
    }

    /// The relayer's address on the destination chain.
    pub fn address(&self) -> Address {
        self.config.key.address()
    }

    async fn fetch(&mut self) {
        let dest = &self.config.destination;
        for url in &self.config.signers {
            let after = self.cursors.get(url).copied().unwrap_or(0);
            let answer = self
                .http
                .get(format!("{}/v1/deliveries", url.trim_end_matches('/')))
                .query(&[("after", after)])
                .send()
                .await;
            let list: Vec<SignedDelivery> = match answer {
                Ok(r) if r.status().is_success() => match r.json().await {
                    Ok(list) => list,
                    Err(e) => {
                        tracing::warn!(signer = %url, error = %e, "a signer answered something else than deliveries");
                        continue;
                    }
                },
                Ok(r) => {
                    tracing::warn!(signer = %url, status = %r.status(), "a signer refused");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(signer = %url, error = %e, "a signer does not answer");
                    continue;
                }
            };
            for s in list {
                self.cursors.insert(url.clone(), s.seq.max(after));
                // Not for this gateway, or a signature that is not its signer's: ignored (the
                // gateway would refuse it anyway).
                if s.chain_id != dest.chain_id
                    || s.gateway != dest.gateway
                    || !s.delivery.matches(&s.data)
                    || recover(&s.delivery, s.chain_id, s.gateway, &s.signature) != Some(s.signer)
                {
                    continue;
                }
                let hash = s.delivery.signing_hash(s.chain_id, s.gateway);
                let entry = self.pending.entry(hash).or_insert_with(|| Pending {
                    delivery: s.delivery.clone(),
                    data: s.data.clone(),
                    signatures: BTreeMap::new(),
                });
                entry.signatures.insert(s.signer, s.signature);
            }
        }
    }

    /// One pass: fetch new signatures, then deliver every delivery that has enough, in batches.
    pub async fn pass(&mut self) -> Result<PassReport, OracleError> {
        self.fetch().await;
        let gateway = Gateway::new(self.config.destination.gateway, &self.provider);
        let chain = |what: &'static str| {
            move |e: alloy::contract::Error| {
                OracleError::Chain(format!("{what}: {}", first_line(&e.to_string())))
            }
        };
        let threshold: usize = gateway
            .threshold()
            .call()
            .await
            .map_err(chain("reading the gateway's threshold"))?
            .try_into()
            .unwrap_or(usize::MAX);
        let members: HashSet<Address> = gateway
            .members()
            .call()
            .await
            .map_err(chain("reading the committee"))?
            .into_iter()
            .collect();
        let mut ready = Vec::new();
        let mut done = Vec::new();
        for (hash, p) in &self.pending {
            let sigs: Vec<Bytes> = p
                .signatures
                .iter()
                .filter(|(a, _)| members.contains(*a))
                .map(|(_, s)| s.clone())
                .take(threshold)
                .collect();
            if sigs.len() < threshold {
                continue;
            }
            let status = gateway
                .status(delivery_key(&p.delivery))
                .call()
                .await
                .map_err(chain("reading a delivery's status"))?;
            if status != 0 {
                done.push(*hash);
                continue;
            }
            ready.push((
                *hash,
                Gateway::Delivery::from(&p.delivery),
                p.data.clone(),
                sigs,
            ));
        }
        for hash in done {
            self.pending.remove(&hash);
        }
        let mut report = PassReport::default();
        // Refused items are found one by one and left out.
        let mut sendable = Vec::new();
        for (hash, d, data, sigs) in ready {
            match gateway
                .deliver(d.clone(), data.clone(), sigs.clone())
                .call()
                .await
            {
                Ok(_) => sendable.push((hash, d, data, sigs)),
                Err(e) => {
                    let why = crate::revert_reason(&e);
                    if self.reported.insert(hash) {
                        tracing::warn!(task = %d.taskid, reason = %why, "the gateway would refuse this delivery");
                    }
                    report.refused.push((d.taskid, why));
                }
            }
        }
        for chunk in sendable.chunks(self.config.batch.max(1)) {
            let ds: Vec<_> = chunk.iter().map(|c| c.1.clone()).collect();
            let datas: Vec<_> = chunk.iter().map(|c| c.2.clone()).collect();
            let sigs: Vec<_> = chunk.iter().map(|c| c.3.clone()).collect();
            let receipt =
                crate::deploy::send("delivering a batch", gateway.deliverBatch(ds, datas, sigs))
                    .await?;
            report.transactions += 1;
            report.gas_used += receipt.gas_used;
            report.delivered += chunk.len();
            for c in chunk {
                self.pending.remove(&c.0);
            }
        }
        Ok(report)
    }

    /// Runs passes until the task is dropped.
    pub async fn run(mut self) {
        loop {
            match self.pass().await {
                Ok(r) if r.delivered > 0 => tracing::info!(
                    delivered = r.delivered,
                    transactions = r.transactions,
                    gas = r.gas_used,
                    "delivered"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a relayer pass failed; trying again"),
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }
}
