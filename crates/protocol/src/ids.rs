//! Deal and task ids, as the hub derives them.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::SolValue;

use crate::typed::Deal;

/// `dealid = keccak256(abi.encodePacked(requestHash, botFirst))`: `request_hash` is the request
/// order's hash, `bot_first` the volume of that request already consumed before this deal.
pub fn deal_id(request_hash: B256, bot_first: u64) -> B256 {
    let mut packed = [0u8; 64];
    packed[..32].copy_from_slice(request_hash.as_slice());
    packed[32..].copy_from_slice(&U256::from(bot_first).to_be_bytes::<32>());
    keccak256(packed)
}

/// `taskid = keccak256(abi.encodePacked(dealid, index))`, for `index` in `0..deal.volume`.
pub fn task_id(deal_id: B256, index: u64) -> B256 {
    let mut packed = [0u8; 64];
    packed[..32].copy_from_slice(deal_id.as_slice());
    packed[32..].copy_from_slice(&U256::from(index).to_be_bytes::<32>());
    keccak256(packed)
}

/// The ids of every task of a deal of `volume` tasks, in index order.
pub fn task_ids(deal_id: B256, volume: u64) -> impl Iterator<Item = B256> {
    (0..volume).map(move |i| task_id(deal_id, i))
}

/// `keccak256(abi.encode(deal))`: the hub keeps its top 216 bits (see [`deal_commitment`]).
pub fn deal_hash(deal: &Deal) -> B256 {
    keccak256(deal.abi_encode())
}

/// What the hub's `dealRecord(dealid)` returns as commitment: [`deal_hash`] with its low 40
/// bits zeroed.
pub fn deal_commitment(deal: &Deal) -> B256 {
    let mut h = deal_hash(deal);
    for b in &mut h.0[27..] {
        *b = 0;
    }
    h
}

/// The id of a deal from the deal itself.
pub fn deal_id_of(deal: &Deal) -> B256 {
    let mut packed = [0u8; 64];
    packed[..32].copy_from_slice(deal.requestHash.as_slice());
    packed[32..].copy_from_slice(&deal.botFirst.to_be_bytes::<32>());
    keccak256(packed)
}

/// The id `AppRegistry.register(name, uri, checksum, mrenclave)` gives when `owner` calls it:
/// the low 20 bytes of `keccak256(abi.encode(owner, name, uri, checksum, mrenclave))`.
pub fn app_id(owner: Address, name: &str, uri: &str, checksum: B256, mrenclave: B256) -> Address {
    let enc = (
        owner,
        name.to_string(),
        uri.to_string(),
        checksum,
        mrenclave,
    )
        .abi_encode_params();
    Address::from_word(keccak256(enc))
}

/// The id `DatasetRegistry.register(name, uri, checksum)` gives when `owner` calls it.
pub fn dataset_id(owner: Address, name: &str, uri: &str, checksum: B256) -> Address {
    let enc = (owner, name.to_string(), uri.to_string(), checksum).abi_encode_params();
    Address::from_word(keccak256(enc))
}

/// The id `WorkerpoolRegistry.register(description, ..)` gives when `owner` calls it while the
/// registry's `count` is `count` (ids depend on the order of registrations).
pub fn workerpool_id(owner: Address, description: &str, count: u64) -> Address {
    let enc = (owner, description.to_string(), U256::from(count)).abi_encode_params();
    Address::from_word(keccak256(enc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::b256;

    #[test]
    fn ids_are_packed_keccaks() {
        let request = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
        // keccak256(0x11..11 ‖ uint256(3)), computed independently with `cast keccak`.
        let mut packed = request.to_vec();
        packed.extend_from_slice(&[0u8; 31]);
        packed.push(3);
        assert_eq!(deal_id(request, 3), keccak256(&packed));
        let deal = deal_id(request, 0);
        assert_ne!(task_id(deal, 0), task_id(deal, 1));
        assert_eq!(
            task_ids(deal, 3).collect::<Vec<_>>(),
            vec![task_id(deal, 0), task_id(deal, 1), task_id(deal, 2)]
        );
    }

    #[test]
    fn deal_id_of_matches_deal_id() {
        let deal = Deal {
            requestHash: B256::repeat_byte(7),
            botFirst: U256::from(5),
            ..Default::default()
        };
        assert_eq!(deal_id_of(&deal), deal_id(B256::repeat_byte(7), 5));
        let c = deal_commitment(&deal);
        assert_eq!(&c.0[..27], &deal_hash(&deal).0[..27]);
        assert_eq!(&c.0[27..], &[0u8; 5]);
        assert_eq!(
            deal.abi_encode().len(),
            21 * 32,
            "21 static words, as Orders.hash(Deal) copies"
        );
    }
}
