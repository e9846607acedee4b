//! Wallets and membership: the workers' keys, funded fresh keys, registered attesters, and
//! making workers members of a workerpool.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;

use super::{FIRST_WORKER, PoolError};
use crate::{Devnet, LocalError};

/// A fresh key given ether and tokens and registered at the hub as an attester with the
/// minimum stake: the SMS's wallet, whose `EnclaveAttested` signatures the hub then counts.
pub(super) async fn attester(devnet: &Devnet) -> Result<PrivateKeySigner, PoolError> {
    let key = funded_key(devnet).await?;
    let client = Client::connect(devnet.profile(), None, Some(key.clone())).await?;
    let stake = decloud_chain::attesters::min_stake(&client).await?;
    decloud_chain::attesters::register(&client, stake).await?;
    Ok(key)
}

/// Keys for `n` workers: the development accounts from [`FIRST_WORKER`] to 9, then fresh keys
/// given ether and tokens.
pub async fn worker_keys(devnet: &Devnet, n: usize) -> Result<Vec<PrivateKeySigner>, PoolError> {
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        if FIRST_WORKER + i < 10 {
            keys.push(devnet.signer(FIRST_WORKER + i));
        } else {
            keys.push(funded_key(devnet).await?);
        }
    }
    Ok(keys)
}

/// A fresh key given 100 ether and 10,000 tokens.
pub(super) async fn funded_key(devnet: &Devnet) -> Result<PrivateKeySigner, PoolError> {
    let key = PrivateKeySigner::random();
    decloud_chain::devnet::fund(
        devnet.profile(),
        key.address(),
        U256::from(100u64) * U256::from(10u64).pow(U256::from(18)),
        U256::from(10_000_000_000_000u64),
    )
    .await?;
    Ok(key)
}

/// The minimum stake per worker a devnet pool gets when it has none: one token.
pub const DEVNET_MIN_WORKER_STAKE: u64 = 1_000_000_000;

/// Makes `workers` members of `workerpool`: with its `owner`'s key, the pool gets
/// [`DEVNET_MIN_WORKER_STAKE`] as its minimum when it has none; then each worker that never
/// joined locks `capacity` minimums (deposited from its wallet, which must hold them), so its
/// scheduler serves it with that capacity. A pool without a minimum (and no owner's key here)
/// takes only admitted workers: nobody joins, and its scheduler's refusal says so.
pub async fn make_members(
    profile: &decloud_chain::ChainProfile,
    rpc: Option<&str>,
    owner: Option<&PrivateKeySigner>,
    workerpool: Address,
    workers: &[PrivateKeySigner],
    capacity: u64,
) -> Result<(), LocalError> {
    let reader = Client::connect(profile, rpc, owner.cloned()).await?;
    let config = reader
        .read(
            "reading the pool's minimum stake",
            reader.hub().poolConfig(workerpool),
        )
        .await?;
    let mut min = config.minStake;
    if min.is_zero() {
        if owner.is_none() {
            return Ok(());
        }
        min = U256::from(DEVNET_MIN_WORKER_STAKE);
        let tx = decloud_chain::actions::RegistryTx::SetMinStake(workerpool, min);
        decloud_chain::actions::registry(&reader, tx).await?;
    }
    let stake = min * U256::from(capacity.max(1));
    for key in workers {
        let worker = Client::connect(profile, rpc, Some(key.clone())).await?;
        let m = decloud_chain::actions::membership(&worker, workerpool, key.address()).await?;
        if m.joined_at == 0 {
            decloud_chain::actions::join_pool(&worker, workerpool, stake).await?;
        }
    }
    Ok(())
}
