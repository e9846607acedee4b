//! What tests ask of the devnet's anvil beyond a chain: blocks mined on demand, snapshots and
//! reorgs, and a clock pushed forward so that deadlines pass without waiting for them.

use alloy::primitives::U256;
use alloy::providers::Provider;
use serde_json::Value;

use crate::Devnet;
use crate::fixtures::FixtureError;

/// The failure of anvil's `method`, as a [`FixtureError`].
fn failed(method: &'static str) -> impl FnOnce(alloy::transports::TransportError) -> FixtureError {
    move |source| FixtureError::Rpc { method, source }
}

/// Takes a snapshot of the chain's state, to [`reorg`] back to.
pub async fn snapshot(devnet: &Devnet) -> Result<U256, FixtureError> {
    let method = "evm_snapshot";
    devnet
        .provider(0)
        .raw_request(method.into(), ())
        .await
        .map_err(failed(method))
}

/// Drops every block since `snapshot` and mines `blocks` new ones, so that the new chain
/// grows past the old head as a real reorg does (a follower sees a longer chain with another
/// history, not only a shorter one).
pub async fn reorg(devnet: &Devnet, snapshot: U256, blocks: u64) -> Result<(), FixtureError> {
    let provider = devnet.provider(0);
    let reverted: bool = provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .map_err(failed("evm_revert"))?;
    if !reverted {
        return Err(FixtureError::NoSnapshot(snapshot));
    }
    mine(devnet, blocks).await
}

/// Moves the chain's clock `secs` seconds forward and mines a block that carries the new time.
pub async fn advance_time(devnet: &Devnet, secs: u64) -> Result<(), FixtureError> {
    let provider = devnet.provider(0);
    let _: Value = provider
        .raw_request("evm_increaseTime".into(), (secs,))
        .await
        .map_err(failed("evm_increaseTime"))?;
    // A block of its own, stamped with the time just set.
    let _: Value = provider
        .raw_request("evm_mine".into(), ())
        .await
        .map_err(failed("evm_mine"))?;
    Ok(())
}

/// The chain's clock: the timestamp of its latest block.
pub async fn now(devnet: &Devnet) -> Result<u64, FixtureError> {
    let method = "eth_getBlockByNumber";
    let block = devnet
        .provider(0)
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(failed(method))?
        .ok_or(FixtureError::NoBlock)?;
    Ok(block.header.timestamp)
}

/// Moves the chain's clock to at least `t` (unix seconds); nothing when it is there already.
pub async fn advance_to(devnet: &Devnet, t: u64) -> Result<(), FixtureError> {
    loop {
        let now = now(devnet).await?;
        if now >= t {
            return Ok(());
        }
        advance_time(devnet, t - now).await?;
    }
}

/// Mines `blocks` empty blocks.
pub async fn mine(devnet: &Devnet, blocks: u64) -> Result<(), FixtureError> {
    let _: Value = devnet
        .provider(0)
        .raw_request("anvil_mine".into(), (U256::from(blocks),))
        .await
        .map_err(failed("anvil_mine"))?;
    Ok(())
}
