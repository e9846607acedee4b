//! How [`Client::send`] gets a transaction mined: the gas limit (estimated once per kind of
//! call, then reused), the nonce (a local counter), EIP-1559 fees within the profile's caps,
//! waiting for the receipt (in the send itself where the node serves EIP-7966's
//! `eth_sendRawTransactionSync`), and replacing or rebroadcasting a transaction that does not
//! get in.

use std::time::Duration;

use alloy::eips::eip1559::Eip1559Estimation;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolEvent;
use alloy::transports::{RpcError, TransportErrorKind};

use crate::ChainError;
use crate::client::Client;
use crate::revert::describe_revert;

/// The first wait before polling a receipt again; later waits double up to
/// [`crate::client::SendOptions::poll`].
const FIRST_RECEIPT_POLL: Duration = Duration::from_millis(5);

/// How long a send waits for `eth_sendRawTransactionSync` to answer with the receipt. A node
/// that mines at once (a devnet, anvil without a block time) answers within milliseconds. One
/// that mines on a clock is polled from then on: the send holds the wallet's nonce lock until
/// the node answers (so that a refused transaction frees its nonce for the next one), and
/// waiting a block there would queue every other send of the wallet behind it. A client pays
/// this wait once to find out.
pub(crate) const SYNC_SEND_WAIT: Duration = Duration::from_millis(200);

/// What the node did with a transaction sent to it.
enum Broadcast {
    /// Mined: its receipt (from `eth_sendRawTransactionSync`).
    Mined(Box<TransactionReceipt>),
    /// Accepted, or sent without an answer yet: its receipt is polled.
    Accepted,
}

/// What a call's gas depends on besides the state: the contract, the function, and the size of
/// its arguments (a batch of 10 costs more than a batch of 1).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct GasKey {
    to: Address,
    selector: [u8; 4],
    len: usize,
}

impl GasKey {
    /// The key of a call (`None` for a deployment or a plain transfer, always estimated).
    fn of(tx: &TransactionRequest) -> Option<Self> {
        let to = tx.to?.to().copied()?;
        let input = tx.input.input()?;
        let selector = input.get(..4)?.try_into().ok()?;
        Some(Self {
            to,
            selector,
            len: input.len(),
        })
    }
}

/// A transaction waiting to be mined: what was signed, and every version sent with its nonce.
struct Pending {
    tx: TransactionRequest,
    nonce: u64,
    /// The fees of the last version.
    fees: Eip1559Estimation,
    /// Hash and raw bytes of each version, oldest first.
    sent: Vec<(B256, Bytes)>,
}

/// `estimate` within the profile's caps (the tip never above the fee cap).
fn cap_fees(
    estimate: Eip1559Estimation,
    max_fee: Option<u128>,
    max_priority: Option<u128>,
) -> Eip1559Estimation {
    let max_fee_per_gas = max_fee.map_or(estimate.max_fee_per_gas, |cap| {
        estimate.max_fee_per_gas.min(cap)
    });
    let max_priority_fee_per_gas = max_priority
        .map_or(estimate.max_priority_fee_per_gas, |cap| {
            estimate.max_priority_fee_per_gas.min(cap)
        })
        .min(max_fee_per_gas);
    Eip1559Estimation {
        max_fee_per_gas,
        max_priority_fee_per_gas,
    }
}

/// The fees of a replacement of a transaction sent with `old`: both raised by at least 12.5 %
/// (rounded up, as nodes compare) and no lower than the node's estimate `now`; `None` when the
/// caps leave no room for such a raise.
fn bumped_fees(
    old: Eip1559Estimation,
    now: Eip1559Estimation,
    max_fee: Option<u128>,
    max_priority: Option<u128>,
) -> Option<Eip1559Estimation> {
    let bump = |v: u128| v.saturating_add(v.div_ceil(8)).max(v + 1);
    let wanted = Eip1559Estimation {
        max_fee_per_gas: bump(old.max_fee_per_gas).max(now.max_fee_per_gas),
        max_priority_fee_per_gas: bump(old.max_priority_fee_per_gas)
            .max(now.max_priority_fee_per_gas),
    };
    let mut fees = cap_fees(wanted, max_fee, max_priority.or(max_fee));
    // A priority fee capped below its bump still needs the 12.5 %: without it, no replacement.
    fees.max_priority_fee_per_gas = fees.max_priority_fee_per_gas.min(fees.max_fee_per_gas);
    let enough = fees.max_fee_per_gas >= bump(old.max_fee_per_gas)
        && fees.max_priority_fee_per_gas >= bump(old.max_priority_fee_per_gas);
    enough.then_some(fees)
}

/// How long a fee estimate is reused.
pub(crate) const FEE_TTL: Duration = Duration::from_secs(1);

impl Client {
    /// Sends `tx` like [`Client::send`] and returns the first `E` event its receipt holds (the id
    /// or index a transaction announces); a receipt without one is an error naming the event.
    pub async fn send_for_event<E: SolEvent>(
        &self,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<E, ChainError> {
        let receipt = self.send(what, tx).await?;
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| E::decode_log(&l.inner).ok().map(|e| e.data))
            .ok_or_else(|| {
                let name = E::SIGNATURE.split('(').next().unwrap_or(E::SIGNATURE);
                ChainError::tx(what, format!("the receipt holds no {name} event"))
            })
    }

    /// Signs and sends `tx` from the wallet and waits for its receipt.
    ///
    /// - Gas: a call this client already estimated (same contract, function and calldata size)
    ///   reuses that estimate with its margin and skips `eth_estimateGas`; otherwise it is
    ///   estimated, and a revert at estimation is reported with its decoded error and nothing is
    ///   sent. A transaction sent with a reused limit that runs out of gas is estimated and sent
    ///   once more.
    /// - Nonce: from a local counter (so concurrent sends don't collide), started from the
    ///   node's pending count (so a restart continues after the transactions still pending).
    /// - Fees: EIP-1559 from the node, capped by the profile; a transaction pending longer than
    ///   the profile's `replace_after` is replaced (same nonce, fees raised by at least 12.5 %,
    ///   within the cap), and whichever of the versions is mined is the one reported.
    /// - Receipt: a node that serves `eth_sendRawTransactionSync` (EIP-7966; anvil does) answers
    ///   the send with it; otherwise, or when it does not answer within 200 ms (the chain does
    ///   not mine at once), the client sends plainly and polls from then on.
    /// - A transaction the node dropped is broadcast again.
    pub async fn send(
        &self,
        what: &str,
        mut tx: TransactionRequest,
    ) -> Result<TransactionReceipt, ChainError> {
        let Some(from) = self.address() else {
            return Err(ChainError::tx(
                what,
                "no wallet: pass --wallet (see `decloud wallet create`)",
            ));
        };
        tx.set_from(from);
        tx.set_chain_id(self.profile.chain_id);
        let key = GasKey::of(&tx).filter(|_| self.options.reuse_gas_limits);
        let cached = key.and_then(|k| self.cached_gas(&k));
        let limit = match cached {
            Some(limit) => limit,
            None => self.estimate(what, &tx, key).await?,
        };
        tx.set_gas_limit(limit);
        let receipt = self.send_with_limit(what, tx.clone()).await;
        match receipt {
            Err(ChainError::OutOfGas { .. }) if cached.is_some() => {
                // The reused limit was too low for this state: estimate now (if the estimate
                // reverts, that is the reason to report) and send once more.
                if let Some(k) = key
                    && let Ok(mut cache) = self.gas_cache.lock()
                {
                    cache.remove(&k);
                }
                tracing::debug!(what, "out of gas with a reused gas limit: estimating");
                let limit = self.estimate(what, &tx, key).await?;
                tx.set_gas_limit(limit);
                self.send_with_limit(what, tx).await
            }
            other => other,
        }
    }

    fn cached_gas(&self, key: &GasKey) -> Option<u64> {
        self.gas_cache.lock().ok()?.get(key).copied()
    }

    /// Estimates `tx`'s gas, adds the margin, and remembers the limit under `key`.
    async fn estimate(
        &self,
        what: &str,
        tx: &TransactionRequest,
        key: Option<GasKey>,
    ) -> Result<u64, ChainError> {
        let mut request = tx.clone();
        request.gas = None;
        let gas = self
            .provider
            .estimate_gas(request)
            .await
            .map_err(|e| self.rpc_error(what, &e))?;
        let limit = gas.saturating_mul(100 + self.options.gas_margin_percent) / 100;
        if let Some(k) = key
            && let Ok(mut cache) = self.gas_cache.lock()
        {
            // The largest limit seen: gas varies with state (first or last contribution).
            let entry = cache.entry(k).or_insert(limit);
            *entry = (*entry).max(limit);
        }
        Ok(limit)
    }

    async fn send_with_limit(
        &self,
        what: &str,
        mut tx: TransactionRequest,
    ) -> Result<TransactionReceipt, ChainError> {
        let (Some(from), Some(wallet)) = (self.address(), self.wallet.as_ref()) else {
            return Err(ChainError::tx(what, "no wallet"));
        };
        let fees = self.fees(what).await?;
        tx.set_max_fee_per_gas(fees.max_fee_per_gas);
        tx.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);

        let (hash, raw, nonce, mined) = {
            let mut next = self.nonce.lock().await;
            let mut retried = false;
            loop {
                let nonce = match *next {
                    Some(n) => n,
                    None => self
                        .provider
                        .get_transaction_count(from)
                        .pending()
                        .await
                        .map_err(|e| self.rpc_error(what, &e))?,
                };
                let (hash, raw) = self.sign(what, wallet, &tx, nonce, fees).await?;
                match self.broadcast(&raw).await {
                    Ok(sent) => {
                        *next = Some(nonce + 1);
                        break (hash, raw, nonce, sent);
                    }
                    Err(e) if is_nonce_error(&e) && !retried => {
                        // Someone else used this wallet: start again from the chain's count.
                        tracing::debug!(%from, nonce, "nonce out of date, refetching");
                        *next = None;
                        retried = true;
                    }
                    Err(e) => {
                        *next = None;
                        return Err(self.rpc_error(what, &e));
                    }
                }
            }
        };
        if let Broadcast::Mined(receipt) = mined
            && receipt.transaction_hash == hash
        {
            return self.check_receipt(what, *receipt, tx.gas).await;
        }
        let pending = Pending {
            tx,
            nonce,
            fees,
            sent: vec![(hash, raw)],
        };
        self.wait(what, from, pending).await
    }

    /// Sends a signed transaction: with `eth_sendRawTransactionSync` while the node serves it
    /// (one request instead of a send and its receipt polls), else `eth_sendRawTransaction`.
    async fn broadcast(&self, raw: &Bytes) -> Result<Broadcast, RpcError<TransportErrorKind>> {
        use std::sync::atomic::Ordering;
        if self.sync_send.load(Ordering::Relaxed) {
            let request = self
                .provider
                .client()
                .request::<_, TransactionReceipt>("eth_sendRawTransactionSync", (raw,));
            match tokio::time::timeout(SYNC_SEND_WAIT, request).await {
                Ok(Ok(receipt)) => return Ok(Broadcast::Mined(Box::new(receipt))),
                Ok(Err(e)) if sync_unsupported(&e) => {
                    tracing::debug!(error = %e, "the node lacks eth_sendRawTransactionSync: sending and polling for receipts");
                    self.sync_send.store(false, Ordering::Relaxed);
                }
                Ok(Err(e)) if sync_timed_out(&e) => {
                    self.sync_send.store(false, Ordering::Relaxed);
                    return Ok(Broadcast::Accepted);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    // The node holds it (or never got it: the wait rebroadcasts it then).
                    tracing::debug!(
                        wait_ms = SYNC_SEND_WAIT.as_millis() as u64,
                        "the node did not mine within the wait: polling for receipts from now on"
                    );
                    self.sync_send.store(false, Ordering::Relaxed);
                    return Ok(Broadcast::Accepted);
                }
            }
        }
        self.provider
            .send_raw_transaction(raw)
            .await
            .map(|_| Broadcast::Accepted)
    }

    async fn sign(
        &self,
        what: &str,
        wallet: &EthereumWallet,
        tx: &TransactionRequest,
        nonce: u64,
        fees: Eip1559Estimation,
    ) -> Result<(B256, Bytes), ChainError> {
        let mut signed = tx.clone();
        signed.set_nonce(nonce);
        signed.set_max_fee_per_gas(fees.max_fee_per_gas);
        signed.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope =
            <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(signed, wallet)
                .await
                .map_err(|e| ChainError::tx(what, format!("cannot sign the transaction: {e}")))?;
        Ok((*envelope.tx_hash(), envelope.encoded_2718().into()))
    }

    /// EIP-1559 fees: the node's estimate, reused for [`FEE_TTL`], capped by the profile.
    async fn fees(&self, what: &str) -> Result<Eip1559Estimation, ChainError> {
        if let Ok(cached) = self.fees.lock()
            && let Some((at, fees)) = *cached
            && at.elapsed() < FEE_TTL
        {
            return Ok(fees);
        }
        let estimate = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| self.rpc_error(what, &e))?;
        let fees = cap_fees(
            estimate,
            self.profile.max_fee_per_gas(),
            self.profile.max_priority_fee_per_gas(),
        );
        if fees != estimate {
            tracing::warn!(
                estimated = estimate.max_fee_per_gas,
                offered = fees.max_fee_per_gas,
                "the node's fee estimate is above the profile's cap: offering the cap, the transaction may wait"
            );
        }
        if let Ok(mut cached) = self.fees.lock() {
            *cached = Some((std::time::Instant::now(), fees));
        }
        Ok(fees)
    }

    /// Waits for one of the versions of a transaction to be mined: rebroadcasts it when the
    /// node dropped it, replaces it with higher fees when it stays pending.
    async fn wait(
        &self,
        what: &str,
        from: Address,
        mut pending: Pending,
    ) -> Result<TransactionReceipt, ChainError> {
        let replace_after = self.profile.replace_after();
        // A round ends with a rebroadcast (the node dropped it) or a replacement (it still
        // holds it, pending).
        let round = replace_after.unwrap_or(self.options.rebroadcast_after);
        let mut capped_warned = false;
        for attempt in 1..=self.options.broadcasts {
            let broadcast_at = tokio::time::Instant::now();
            // The first polls come quickly and back off to `poll`: a node that mines at once
            // (a devnet) has the receipt within milliseconds, and a whole `poll` of waiting
            // would hold every transaction that long.
            let mut delay = FIRST_RECEIPT_POLL.min(self.options.poll);
            loop {
                if let Some(receipt) = self.receipt_of_any(what, &pending).await? {
                    if receipt.transaction_hash != pending.sent[0].0 {
                        tracing::info!(hash = %receipt.transaction_hash, nonce = pending.nonce, "the replacement transaction was mined");
                    }
                    return self.check_receipt(what, receipt, pending.tx.gas).await;
                }
                if broadcast_at.elapsed() >= round {
                    break;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(self.options.poll);
            }
            let (hash, raw) = pending.sent.last().cloned().expect("one version was sent");
            let known = self
                .provider
                .get_transaction_by_hash(hash)
                .await
                .map_err(|e| self.rpc_error(what, &e))?
                .is_some();
            if known {
                if replace_after.is_some() {
                    self.replace(what, &mut pending, &mut capped_warned).await?;
                }
                continue;
            }
            let mined = self
                .provider
                .get_transaction_count(from)
                .latest()
                .await
                .map_err(|e| self.rpc_error(what, &e))?;
            if mined > pending.nonce {
                // Mined meanwhile? Then one of ours has a receipt now.
                if let Some(receipt) = self.receipt_of_any(what, &pending).await? {
                    return self.check_receipt(what, receipt, pending.tx.gas).await;
                }
                // Our nonce was used by another transaction of this wallet.
                *self.nonce.lock().await = None;
                return Err(ChainError::tx(
                    what,
                    format!(
                        "transaction {hash} was replaced by another one from {from} (same nonce {}); send it again",
                        pending.nonce
                    ),
                ));
            }
            tracing::info!(%hash, attempt, "transaction dropped by the node, broadcasting it again");
            if let Err(e) = self.provider.send_raw_transaction(&raw).await {
                tracing::debug!(%hash, error = %e, "rebroadcast refused");
            }
        }
        let (hash, _) = pending.sent.last().cloned().expect("one version was sent");
        Err(ChainError::NotMined {
            what: what.to_string(),
            hash: hash.to_string(),
            attempts: self.options.broadcasts,
            nonce: pending.nonce,
        })
    }

    /// The receipt of whichever version of `pending` was mined, if one was: one request for
    /// one version, one JSON-RPC batch for several.
    async fn receipt_of_any(
        &self,
        what: &str,
        pending: &Pending,
    ) -> Result<Option<TransactionReceipt>, ChainError> {
        if let [(hash, _)] = pending.sent.as_slice() {
            return self
                .provider
                .get_transaction_receipt(*hash)
                .await
                .map_err(|e| self.rpc_error(what, &e));
        }
        let mut batch = alloy::rpc::client::BatchRequest::new(self.provider.client());
        let mut waiters = Vec::new();
        for (hash, _) in &pending.sent {
            let waiter = batch
                .add_call::<_, Option<TransactionReceipt>>("eth_getTransactionReceipt", &(hash,))
                .map_err(|e| ChainError::tx(what, e))?;
            waiters.push(waiter);
        }
        batch.send().await.map_err(|e| self.rpc_error(what, &e))?;
        for waiter in waiters {
            if let Some(receipt) = waiter.await.map_err(|e| self.rpc_error(what, &e))? {
                return Ok(Some(receipt));
            }
        }
        Ok(None)
    }

    /// Sends a version of `pending` with fees raised by at least 12.5 % (what nodes require of a
    /// replacement) and no less than the node's current estimate, within the profile's cap.
    async fn replace(
        &self,
        what: &str,
        pending: &mut Pending,
        capped_warned: &mut bool,
    ) -> Result<(), ChainError> {
        let Some(wallet) = self.wallet.as_ref() else {
            return Ok(());
        };
        if let Ok(mut cached) = self.fees.lock() {
            *cached = None;
        }
        let now = self.fees(what).await?;
        let Some(fees) = bumped_fees(
            pending.fees,
            now,
            self.profile.max_fee_per_gas(),
            self.profile.max_priority_fee_per_gas(),
        ) else {
            if !*capped_warned {
                tracing::warn!(
                    nonce = pending.nonce,
                    max_fee = pending.fees.max_fee_per_gas,
                    "a pending transaction cannot be replaced: its fees are at the profile's cap; waiting for it"
                );
                *capped_warned = true;
            }
            return Ok(());
        };
        let (hash, raw) = self
            .sign(what, wallet, &pending.tx, pending.nonce, fees)
            .await?;
        match self.provider.send_raw_transaction(&raw).await {
            Ok(_) => {
                tracing::info!(
                    replaced = %pending.sent.last().map(|s| s.0).unwrap_or_default(),
                    by = %hash,
                    nonce = pending.nonce,
                    max_fee = fees.max_fee_per_gas,
                    priority_fee = fees.max_priority_fee_per_gas,
                    "a transaction stayed pending: replaced it with higher fees"
                );
                pending.fees = fees;
                pending.sent.push((hash, raw));
            }
            // Mined meanwhile (the next poll finds its receipt), or the node wants more.
            Err(e) => tracing::debug!(nonce = pending.nonce, error = %e, "replacement refused"),
        }
        Ok(())
    }

    async fn check_receipt(
        &self,
        what: &str,
        receipt: TransactionReceipt,
        limit: Option<u64>,
    ) -> Result<TransactionReceipt, ChainError> {
        if receipt.status() {
            return Ok(receipt);
        }
        if let Some(limit) = limit
            && ran_out_of_gas(receipt.gas_used, limit)
        {
            return Err(ChainError::OutOfGas {
                what: what.to_string(),
                hash: receipt.transaction_hash.to_string(),
                limit,
            });
        }
        // Replay it to learn why (the state may have moved on; best effort).
        let reason = match self
            .provider
            .get_transaction_by_hash(receipt.transaction_hash)
            .await
        {
            Ok(Some(t)) => {
                let mut replay: TransactionRequest = t.into_request();
                replay.nonce = None;
                match self.provider.call(replay).await {
                    Err(e) => match e.as_error_resp().and_then(|p| p.as_revert_data()) {
                        Some(data) => describe_revert(&data),
                        None => "the transaction reverted".to_string(),
                    },
                    Ok(_) => "the transaction reverted (out of gas?)".to_string(),
                }
            }
            _ => "the transaction reverted".to_string(),
        };
        Err(ChainError::Reverted {
            what: what.to_string(),
            reason: format!("{reason} (transaction {})", receipt.transaction_hash),
        })
    }
}

/// Call frames a transaction may nest (the hub, its extension's fallback, a facet, the facet it
/// reaches in turn) when the innermost one runs out of gas.
const NESTED_FRAMES: u64 = 4;

/// Whether a reverted transaction that used `gas_used` of its `limit` ran out of gas. Out of gas
/// leaves (nearly) nothing of the limit: only the 1/64 that each enclosing call frame keeps
/// (EIP-150), so a call that runs out three frames deep (a facet behind the hub's fallback) has
/// used about 61/64 of it, not 63/64. A revert with a reason stops well short: the limits sent
/// are estimates with a margin.
fn ran_out_of_gas(gas_used: u64, limit: u64) -> bool {
    gas_used.saturating_mul(64) >= limit.saturating_mul(64 - NESTED_FRAMES)
}

/// The node does not serve `eth_sendRawTransactionSync` (no such method, or not with these
/// parameters): the plain send says what is wrong with the transaction, if anything.
fn sync_unsupported(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp().is_some_and(|p| {
        let m = p.message.to_ascii_lowercase();
        matches!(p.code, -32602..=-32600)
            || m.contains("not supported")
            || m.contains("does not exist")
            || m.contains("not available")
            || m.contains("method not found")
    })
}

/// EIP-7966's answer when the transaction was accepted but not mined within the node's wait.
fn sync_timed_out(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp().is_some_and(|p| p.code == 4)
}

fn is_nonce_error(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp().is_some_and(|p| {
        let m = p.message.to_ascii_lowercase();
        m.contains("nonce too low")
            || m.contains("nonce too high")
            || m.contains("replacement transaction underpriced")
    })
}

#[cfg(test)]
mod fee_tests {
    use super::*;

    fn fees(max: u128, tip: u128) -> Eip1559Estimation {
        Eip1559Estimation {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn out_of_gas_is_recognized_behind_nested_facet_calls() {
        // An audit contribution that ran out three frames deep (hub, extension, facet): seen on a
        // 1-s devnet, 169,757 used of a reused limit of 173,928.
        assert!(ran_out_of_gas(169_757, 173_928));
        assert!(ran_out_of_gas(100_000, 100_000));
        assert!(ran_out_of_gas(98_500, 100_000), "one frame keeps 1/64");
        // A revert with a reason, even late in a call sent with the usual 20 % margin, is not.
        assert!(!ran_out_of_gas(83_400, 100_000));
        assert!(!ran_out_of_gas(90_000, 100_000));
    }

    #[test]
    fn fees_are_capped_and_the_tip_never_exceeds_the_fee() {
        assert_eq!(cap_fees(fees(100, 10), None, None), fees(100, 10));
        assert_eq!(cap_fees(fees(100, 10), Some(50), None), fees(50, 10));
        assert_eq!(cap_fees(fees(100, 80), Some(50), None), fees(50, 50));
        assert_eq!(cap_fees(fees(100, 10), None, Some(2)), fees(100, 2));
    }

    #[test]
    fn a_replacement_raises_both_fees_by_an_eighth_at_least_within_the_cap() {
        // 12.5 % rounded up, and at least the node's estimate now.
        assert_eq!(
            bumped_fees(fees(1_000, 100), fees(0, 0), None, None),
            Some(fees(1_125, 113))
        );
        assert_eq!(
            bumped_fees(fees(1_000, 100), fees(5_000, 300), None, None),
            Some(fees(5_000, 300))
        );
        assert_eq!(
            bumped_fees(fees(7, 1), fees(0, 0), None, None),
            Some(fees(8, 2))
        );
        // The cap leaves room: raised to at most the cap.
        assert_eq!(
            bumped_fees(fees(1_000, 100), fees(5_000, 300), Some(1_200), None),
            Some(fees(1_200, 300))
        );
        // No room for 12.5 % on the fee or on the tip: no replacement.
        assert_eq!(
            bumped_fees(fees(1_000, 100), fees(0, 0), Some(1_100), None),
            None
        );
        assert_eq!(
            bumped_fees(fees(1_000, 100), fees(0, 0), None, Some(110)),
            None
        );
    }

    #[test]
    fn the_gas_key_is_the_contract_the_function_and_the_size_of_the_call() {
        let to = Address::repeat_byte(1);
        let call = |data: Vec<u8>| {
            TransactionRequest::default()
                .to(to)
                .input(Bytes::from(data).into())
        };
        let a = GasKey::of(&call(vec![1, 2, 3, 4, 0, 0])).unwrap();
        let b = GasKey::of(&call(vec![1, 2, 3, 4, 9, 9])).unwrap();
        let longer = GasKey::of(&call(vec![1, 2, 3, 4, 0, 0, 0])).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, longer);
        assert_eq!(GasKey::of(&call(vec![1, 2])), None);
        assert_eq!(GasKey::of(&TransactionRequest::default()), None);
    }
}
