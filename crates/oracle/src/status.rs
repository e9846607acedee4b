//! The destination-chain side of a proxy task, for `decloud task show`: whether the gateway on B
//! delivered it, recorded its consumer's failure, or has not seen it yet.

use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use crate::OracleError;
use crate::contracts::Gateway;
use crate::delivery::Destination;
use crate::profile::OracleProfile;

/// What the gateway on B says of a proxy task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Outcome {
    /// No delivery yet (the committee has not signed it or no relayer carried it).
    Pending,
    /// Delivered: the consumer accepted it.
    Delivered,
    /// The consumer refused it or ran out of gas; anyone may retry the same delivery.
    Failed {
        /// The consumer's revert data in words (see [`crate::describe_revert`]).
        reason: String,
        /// Whether it used its whole gas cap without a reason.
        out_of_gas: bool,
    },
    /// B is not in the oracle profile (or names another gateway): nothing can be read.
    Unknown {
        /// Why.
        why: String,
    },
}

/// A proxy task's destination and what its gateway says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DestinationStatus {
    /// Where the request sends the result.
    pub destination: Destination,
    /// The gateway's replay key of the delivery.
    pub key: B256,
    /// What happened on B.
    pub outcome: Outcome,
}

/// The destination status of `task`, a task of a deal whose request `params` are given, created by
/// `source_hub` on chain `source_chain_id`; `None` when the params name no destination. B is read
/// through `profile` when it lists B's gateway (the devnet writes it); otherwise
/// [`Outcome::Unknown`].
pub async fn destination_status(
    profile: Option<&OracleProfile>,
    source_chain_id: u64,
    source_hub: Address,
    task: B256,
    params: &str,
) -> Result<Option<DestinationStatus>, OracleError> {
    let Some(destination) = Destination::from_params(params)? else {
        return Ok(None);
    };
    let key = crate::relayer::delivery_key_of(
        source_chain_id,
        source_hub,
        task,
        destination.consumer,
        destination.selector(),
    );
    let chain = profile.and_then(|p| p.destination(destination.chain_id));
    let outcome = match chain {
        None => Outcome::Unknown {
            why: format!(
                "chain {} is not in the oracle profile (oracle.toml)",
                destination.chain_id
            ),
        },
        Some(b) if b.gateway != destination.gateway => Outcome::Unknown {
            why: format!(
                "the oracle profile knows gateway {} on chain {}, not {}",
                b.gateway, b.chain_id, destination.gateway
            ),
        },
        Some(b) => read_outcome(&b.rpc_url, b.gateway, b.deployment_block, key).await?,
    };
    Ok(Some(DestinationStatus {
        destination,
        key,
        outcome,
    }))
}

async fn read_outcome(
    rpc_url: &str,
    gateway: Address,
    from_block: u64,
    key: B256,
) -> Result<Outcome, OracleError> {
    let url = rpc_url
        .parse()
        .map_err(|e| OracleError::Profile(format!("chain B's rpc_url {rpc_url:?}: {e}")))?;
    let provider = ProviderBuilder::new().connect_http(url);
    let chain = |what: &str, e: &dyn std::fmt::Display| {
        OracleError::Chain(format!(
            "{what} on chain B ({}): {}",
            crate::deploy::first_line(rpc_url),
            crate::deploy::first_line(&e.to_string())
        ))
    };
    let status = Gateway::new(gateway, &provider)
        .status(key)
        .call()
        .await
        .map_err(|e| chain("reading the delivery's status", &e))?;
    Ok(match status {
        0 => Outcome::Pending,
        1 => Outcome::Delivered,
        _ => {
            let logs = provider
                .get_logs(
                    &Filter::new()
                        .address(gateway)
                        .event_signature(Gateway::CallbackFailed::SIGNATURE_HASH)
                        .topic1(key)
                        .from_block(from_block),
                )
                .await
                .map_err(|e| chain("reading the gateway's failure records", &e))?;
            match logs
                .last()
                .and_then(|l| l.log_decode::<Gateway::CallbackFailed>().ok())
            {
                Some(l) => Outcome::Failed {
                    reason: describe(&l.inner.data.reason, l.inner.data.outOfGas),
                    out_of_gas: l.inner.data.outOfGas,
                },
                None => Outcome::Failed {
                    reason: "recorded as failed (its event is beyond this node's log range)".into(),
                    out_of_gas: false,
                },
            }
        }
    })
}

/// The consumer's revert data in words.
fn describe(reason: &[u8], out_of_gas: bool) -> String {
    match (reason.is_empty(), out_of_gas) {
        (true, true) => "ran out of gas".into(),
        (true, false) => "reverted without a reason".into(),
        (false, _) => crate::describe_revert(reason),
    }
}
