//! The key holders a TEE worker asks (docs/confidential.md, "Finding the keepers"): the list it
//! was given (`--sms-url`, which always wins), or, without one, the keepers found on chain: for
//! each TEE task, the keepers drawn for the current epoch of its dataset's group (every keeper
//! with a URL when the dataset has no group), at the URLs they published in the keeper
//! registry.
//!
//! A URL on chain is a claim. Before a URL joins the list, the SMS there must say it is the
//! keeper that published it (a routing check only: what it says is not signed); what counts is
//! the signature of each answer, checked as for any key holder, and the hub counts only keepers
//! drawn for the epoch, which [`Drawn::counts`] checks before the hub does. So a keeper that
//! publishes another keeper's URL gains nothing: the answers there are signed by the other one.
//!
//! The list only grows (a key holder keeps its index for the rounds in flight), in slots that
//! never move, so that a release round reads it without a lock.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloy::primitives::Address;
use decloud_sms::SmsClient;
use tokio::sync::Mutex;

use crate::Context;

/// Most key holders a worker keeps (the keeper registry pages beyond this are not read).
const MAX_KEY_HOLDERS: usize = 256;

/// The key holders of a TEE worker, in a list that only grows; see the module docs.
pub(crate) struct KeyHolders {
    slots: Box<[OnceLock<SmsClient>]>,
    len: AtomicUsize,
    /// Found on chain (no list was given): the keepers already listed, by address.
    discovered: Option<Mutex<HashMap<Address, usize>>>,
    /// The keepers drawn per (dataset, epoch): a draw never changes, and reading it scans logs.
    draws: Mutex<HashMap<(Address, u64), Vec<Address>>>,
}

impl KeyHolders {
    /// The key holders given by configuration, in their order; nothing is ever added.
    pub(crate) fn fixed(list: Vec<SmsClient>) -> Self {
        let holders = Self::empty(list.len(), None);
        for sms in list {
            holders.push(sms);
        }
        holders
    }

    /// An empty list, filled per task from the keeper registry.
    pub(crate) fn discovered() -> Self {
        Self::empty(MAX_KEY_HOLDERS, Some(Mutex::new(HashMap::new())))
    }

    fn empty(capacity: usize, discovered: Option<Mutex<HashMap<Address, usize>>>) -> Self {
        Self {
            slots: (0..capacity).map(|_| OnceLock::new()).collect(),
            len: AtomicUsize::new(0),
            discovered,
            draws: Mutex::new(HashMap::new()),
        }
    }

    /// Key holder `i`, in the order they were listed.
    pub(crate) fn get(&self, i: usize) -> Option<&SmsClient> {
        self.slots.get(i).and_then(OnceLock::get)
    }

    /// How many key holders are listed.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the list is found on chain rather than given.
    pub(crate) fn is_discovered(&self) -> bool {
        self.discovered.is_some()
    }

    /// The indices of the key holders worth asking for a task: with a list found on chain and a
    /// dataset whose group was drawn, the drawn keepers listed (others would refuse: the
    /// dataset's shares are not theirs); every key holder otherwise.
    pub(crate) async fn candidates(&self, drawn: Option<&Drawn>) -> Vec<usize> {
        if let (Some(known), Some(keepers)) =
            (&self.discovered, drawn.and_then(|d| d.keepers.as_ref()))
        {
            let known = known.lock().await;
            let mut indices: Vec<usize> = keepers
                .iter()
                .filter_map(|k| known.get(k).copied())
                .collect();
            indices.sort_unstable();
            return indices;
        }
        (0..self.len()).collect()
    }

    /// Appends `sms` (callers hold the discovery lock, or build the fixed list alone); its index,
    /// or `None` when the list is full.
    fn push(&self, sms: SmsClient) -> Option<usize> {
        let i = self.len.load(Ordering::Acquire);
        self.slots.get(i)?.set(sms).ok()?;
        self.len.store(i + 1, Ordering::Release);
        Some(i)
    }
}

/// Who the hub counts for a task's dataset this epoch: the keepers drawn for its group, or
/// `None` when the dataset has no group (any active attester counts).
pub(crate) struct Drawn {
    dataset: Address,
    epoch: u64,
    keepers: Option<Vec<Address>>,
}

impl Drawn {
    /// Whether `signer`'s attestation counts for the task, or why not.
    pub(crate) fn counts(&self, signer: Address) -> Result<(), String> {
        match &self.keepers {
            Some(drawn) if !drawn.contains(&signer) => Err(format!(
                "its signer {signer} is not a keeper drawn for epoch {} of dataset {}: the hub would not count it",
                self.epoch, self.dataset
            )),
            _ => Ok(()),
        }
    }
}

/// The keepers the hub counts for a task on `dataset` now (`None` without a dataset).
pub(crate) async fn drawn_for(
    ctx: &Context,
    holders: &KeyHolders,
    dataset: Option<Address>,
) -> Result<Option<Drawn>, String> {
    let Some(dataset) = dataset else {
        return Ok(None);
    };
    let chain = &ctx.chain;
    let read =
        |e: decloud_chain::ChainError| format!("cannot read dataset {dataset}'s keepers: {e}");
    let (n, _) = decloud_chain::keepers::group(chain, dataset)
        .await
        .map_err(read)?;
    if n == 0 {
        return Ok(Some(Drawn {
            dataset,
            epoch: 0,
            keepers: None,
        }));
    }
    let epoch = decloud_chain::keepers::current_epoch(chain)
        .await
        .map_err(read)?;
    let cached = holders.draws.lock().await.get(&(dataset, epoch)).cloned();
    let keepers = match cached {
        Some(keepers) => Some(keepers),
        None => decloud_chain::keepers::drawn(chain, dataset, epoch)
            .await
            .map_err(read)?,
    };
    let keepers = keepers.ok_or_else(|| {
            format!(
                "nobody drew epoch {epoch}'s keepers of dataset {dataset}: the hub counts no attestation (decloud dataset draw-keepers)"
            )
        })?;
    holders
        .draws
        .lock()
        .await
        .insert((dataset, epoch), keepers.clone());
    Ok(Some(Drawn {
        dataset,
        epoch,
        keepers: Some(keepers),
    }))
}

/// With a list found on chain, lists the keepers `drawn` names (every keeper with a URL when it
/// names none) that are not listed yet; a keeper whose URL is missing, unusable or answers as
/// someone else is left out and logged (the task then fails if fewer than k answer).
pub(crate) async fn discover(ctx: &Context, holders: &KeyHolders, drawn: Option<&Drawn>) {
    let Some(known) = &holders.discovered else {
        return;
    };
    let mut known = known.lock().await;
    let wanted: Vec<(Address, Option<String>)> = match drawn.and_then(|d| d.keepers.as_ref()) {
        Some(keepers) => keepers
            .iter()
            .filter(|a| !known.contains_key(*a))
            .map(|a| (*a, None))
            .collect(),
        None => match decloud_chain::keeper_registry::urls(&ctx.chain).await {
            Ok(all) => all
                .into_iter()
                .filter(|(a, _)| !known.contains_key(a))
                .map(|(a, url)| (a, Some(url)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the keeper registry");
                return;
            }
        },
    };
    for (keeper, url) in wanted {
        match checked_keeper(ctx, keeper, url).await {
            Ok(sms) => {
                let url = sms.url().to_owned();
                match holders.push(sms) {
                    Some(i) => {
                        known.insert(keeper, i);
                        tracing::info!(%keeper, %url, "key holder found on chain");
                    }
                    None => tracing::warn!(%keeper, "too many key holders: not listed"),
                }
            }
            Err(reason) => tracing::warn!(%keeper, %reason, "keeper left out"),
        }
    }
}

/// `keeper`'s SMS at the URL it published (read now when not given), once it says it is that
/// keeper, on this worker's chain, appraising this worker's evidence.
async fn checked_keeper(
    ctx: &Context,
    keeper: Address,
    url: Option<String>,
) -> Result<SmsClient, String> {
    let url = match url {
        Some(url) => url,
        None => decloud_chain::keeper_registry::url_of(&ctx.chain, keeper)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("it published no URL in the keeper registry")?,
    };
    let sms = SmsClient::new(&url).map_err(|e| format!("its URL {url} is not usable: {e}"))?;
    let info = sms
        .info()
        .await
        .map_err(|e| format!("its URL {url} does not answer: {e}"))?;
    let profile = &ctx.config.profile;
    if info.attester != keeper {
        return Err(format!(
            "its URL {url} answers as attester {}, not as {keeper}: a URL it does not serve",
            info.attester
        ));
    }
    if info.chain_id != profile.chain_id || info.hub != profile.contracts.hub {
        return Err(format!("its SMS at {url} serves another chain or hub"));
    }
    match ctx.tee.as_ref().map(|t| t.attester.kind()) {
        Some(kind) if kind != info.tee => Err(format!(
            "its SMS at {url} appraises {} evidence, this worker's enclave is {kind}",
            info.tee
        )),
        _ => Ok(sms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_keepers_drawn_count_for_a_dataset_with_a_group() {
        let (a, b, liar) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(9),
        );
        let drawn = Drawn {
            dataset: Address::repeat_byte(0xd),
            epoch: 7,
            keepers: Some(vec![a, b]),
        };
        assert!(drawn.counts(a).is_ok() && drawn.counts(b).is_ok());
        let refused = drawn.counts(liar).unwrap_err();
        assert!(
            refused.contains("not a keeper drawn for epoch 7")
                && refused.contains(&liar.to_string()),
            "{refused}"
        );
        let no_group = Drawn {
            keepers: None,
            ..drawn
        };
        assert!(
            no_group.counts(liar).is_ok(),
            "without a group any attester counts"
        );
    }

    #[test]
    fn a_fixed_list_keeps_its_order_and_a_found_one_grows() {
        let one = SmsClient::new("http://127.0.0.1:1").unwrap();
        let two = SmsClient::new("http://127.0.0.1:2").unwrap();
        let fixed = KeyHolders::fixed(vec![one.clone(), two.clone()]);
        assert_eq!(fixed.len(), 2);
        assert!(!fixed.is_discovered());
        assert_eq!(fixed.get(1).map(SmsClient::url), Some(two.url()));
        assert!(fixed.get(2).is_none());
        assert!(fixed.push(one.clone()).is_none(), "a fixed list is full");
        let found = KeyHolders::discovered();
        assert!(found.is_discovered() && found.len() == 0);
        assert_eq!(found.push(two.clone()), Some(0));
        assert_eq!(found.push(one.clone()), Some(1));
        assert_eq!(found.get(0).map(SmsClient::url), Some(two.url()));
        assert_eq!(found.len(), 2);
    }
}
