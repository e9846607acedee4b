//! Two chains for the oracle tests: a devnet A (the protocol) and a chain B with chain id
//! [`CHAIN_B_ID`] holding a gateway, the committee deployed and staked on A by the devnet
//! members, as `decloud devnet up --chains 2` sets them up. Dropping the value stops both anvils.
//! Beside it, what the oracle tests share: the committee's signers, a relayer, a consumer opened
//! to a workerpool, the gateway's key of a delivery.

use std::time::Duration;

use alloy::primitives::{Address, B256, FixedBytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use decloud_chain::accounts;
use decloud_chain::anvil::{Anvil, free_port};
use decloud_oracle::contracts::{Gateway, WorkPasses};
use decloud_oracle::delivery::Destination;
use decloud_oracle::deploy::devnet_member_keys;
pub use decloud_oracle::devnet::CHAIN_B_ID;
use decloud_oracle::devnet::DEVNET_MEMBERS;
use decloud_oracle::profile::{DestinationChain, OracleProfile};
use decloud_oracle::relayer::{PassReport, Relayer, RelayerConfig};
use decloud_oracle::signer::{SignerConfig, SignerNode};
use tempfile::TempDir;

use crate::Devnet;
use crate::fixtures::FixtureError;
use crate::pool::DealRequest;

/// How many times chain B's start is retried when another process takes its port first.
const PORT_RETRIES: usize = 5;

/// Chain A, chain B and the oracle contracts on them.
pub struct TwoChains {
    // Field order: anvil B stops before its log directory goes.
    b: Anvil,
    _dir: TempDir,
    /// Chain A (the protocol; its home holds both profiles).
    pub a: Devnet,
    /// Where the committee and the gateway are.
    pub profile: OracleProfile,
}

impl TwoChains {
    /// Starts both chains and deploys the oracle; the oracle profile is saved in A's home.
    pub async fn start() -> Result<Self, FixtureError> {
        let a = Devnet::start()
            .await
            .map_err(|e| FixtureError::Failed(e.to_string()))?;
        let dir = tempfile::Builder::new()
            .prefix("decloud-chain-b-")
            .tempdir()
            .map_err(FixtureError::TempDir)?;
        let mut last = None;
        for _ in 0..PORT_RETRIES {
            let port = free_port().map_err(|e| FixtureError::Failed(e.to_string()))?;
            match decloud_oracle::devnet::start_chain_b(
                port,
                dir.path().join("anvil-b.log"),
                false,
                Some(256),
            )
            .await
            {
                Ok(b) => {
                    let profile = decloud_oracle::devnet::deploy_pair(a.profile(), b.rpc_url())
                        .await
                        .map_err(|e| FixtureError::Failed(e.to_string()))?;
                    profile
                        .save(a.home())
                        .map_err(|e| FixtureError::Failed(e.to_string()))?;
                    return Ok(Self {
                        b,
                        _dir: dir,
                        a,
                        profile,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(FixtureError::Failed(format!(
            "chain B did not start: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// Chain B's JSON-RPC endpoint.
    pub fn b_rpc_url(&self) -> &str {
        self.b.rpc_url()
    }

    /// Chain B as the profile names it.
    pub fn b(&self) -> &DestinationChain {
        &self.profile.destinations[0]
    }

    /// A provider on chain B signing with development account `index`.
    pub fn b_provider(&self, index: usize) -> DynProvider {
        let url = self.b.rpc_url().parse().expect("anvil's url is valid");
        ProviderBuilder::new()
            .wallet(accounts::dev_signer(index))
            .connect_http(url)
            .erased()
    }
}

impl TwoChains {
    /// The devnet committee's signers, each following A and serving its signatures.
    pub async fn signers(&self) -> Result<Vec<SignerNode>, FixtureError> {
        let mut nodes = Vec::new();
        for key in devnet_member_keys(DEVNET_MEMBERS) {
            nodes.push(
                SignerNode::start(SignerConfig {
                    listen: ([127, 0, 0, 1], 0).into(),
                    profile: self.profile.clone(),
                    key,
                    poll: Duration::from_millis(100),
                    confirmations: 0,
                })
                .await
                .map_err(|e| FixtureError::Failed(e.to_string()))?,
            );
        }
        Ok(nodes)
    }

    /// A relayer to B's gateway paid to development account `account`, polling `signers`,
    /// sending up to `batch` deliveries per transaction.
    pub fn relayer(
        &self,
        signers: &[SignerNode],
        account: usize,
        batch: usize,
    ) -> Result<Relayer, FixtureError> {
        Relayer::new(RelayerConfig {
            destination: self.b().clone(),
            signers: signers.iter().map(|n| n.url()).collect(),
            key: accounts::dev_signer(account),
            batch,
            poll: Duration::from_millis(100),
        })
        .map_err(|e| FixtureError::Failed(e.to_string()))
    }

    /// Opens `consumer` (registered by development account `owner` on B) to `workerpool`: a WORK
    /// pass for any method, any number of uses, for its committee-certified results; then, when
    /// `fee` is given, funds it with 1 ether to pay relayers `fee` per delivery.
    pub async fn open_consumer(
        &self,
        owner: usize,
        consumer: Address,
        workerpool: Address,
        fee: Option<U256>,
    ) -> Result<(), FixtureError> {
        let provider = self.b_provider(owner);
        let failed = |e: alloy::contract::Error| FixtureError::Failed(e.to_string());
        let pending = WorkPasses::new(self.b().passes, &provider)
            .grant(workerpool, consumer, work_terms(), vec![])
            .send()
            .await
            .map_err(failed)?;
        pending
            .get_receipt()
            .await
            .map_err(|e| FixtureError::Failed(e.to_string()))?;
        if let Some(fee) = fee {
            let pending = Gateway::new(self.b().gateway, &provider)
                .fund(consumer, fee)
                .value(U256::from(10u64).pow(U256::from(18)))
                .send()
                .await
                .map_err(failed)?;
            pending
                .get_receipt()
                .await
                .map_err(|e| FixtureError::Failed(e.to_string()))?;
        }
        Ok(())
    }

    /// A request on A for `app` whose result goes to `consumer` on B: called back by the committee
    /// and naming B's gateway, with the consumer's gas cap `gas` (the gateway's default if `None`).
    pub fn proxy_request(&self, app: Address, consumer: Address, gas: Option<u64>) -> DealRequest {
        let b = self.b();
        let destination = Destination {
            chain_id: b.chain_id,
            gateway: b.gateway,
            consumer,
            method: None,
            gas,
        };
        DealRequest::new(app)
            .callback(self.profile.source.committee)
            .param(
                "oracle",
                serde_json::to_value(&destination).expect("a destination is JSON"),
            )
    }

    /// The gateway's key of `task` (a task of A's hub) delivered to `consumer`'s `receiveResult`.
    pub fn delivery_key(&self, task: B256, consumer: Address) -> B256 {
        decloud_oracle::relayer::delivery_key_of(
            self.profile.source.chain_id,
            self.profile.source.hub,
            task,
            consumer,
            FixedBytes(decloud_oracle::delivery::RECEIVE_RESULT),
        )
    }
}

/// A WORK pass's terms: every method, any number of uses, no end, for committee consensus.
pub fn work_terms() -> WorkPasses::Terms {
    WorkPasses::Terms {
        scope: 1,
        usage: 1,
        uses: 0,
        notBefore: 0,
        notAfter: u64::MAX - 1,
        reason: 1,
        evidence: keccak256("the pool's committee-certified work"),
    }
}

/// Runs relayer passes until `n` deliveries were made in all, for at most `timeout`.
pub async fn relay(
    relayer: &mut Relayer,
    n: usize,
    timeout: Duration,
) -> Result<PassReport, FixtureError> {
    let mut total = PassReport::default();
    let deadline = tokio::time::Instant::now() + timeout;
    while total.delivered < n {
        if tokio::time::Instant::now() >= deadline {
            return Err(FixtureError::Failed(format!(
                "{n} deliveries were not made in {timeout:?}: {total:?}"
            )));
        }
        let report = relayer
            .pass()
            .await
            .map_err(|e| FixtureError::Failed(e.to_string()))?;
        total.delivered += report.delivered;
        total.transactions += report.transactions;
        total.gas_used += report.gas_used;
        total.refused = report.refused;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(total)
}
