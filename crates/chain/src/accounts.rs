//! The well-known development accounts: the ten keys every anvil (and hardhat) node funds with
//! ether from the public test mnemonic. They are public knowledge: never use them on a real chain.

use alloy::primitives::{Address, B256, b256};
use alloy::signers::local::PrivateKeySigner;

/// Private keys of anvil's default accounts 0..9, in order.
pub const DEV_PRIVATE_KEYS: [B256; 10] = [
    b256!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    b256!("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
    b256!("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"),
    b256!("7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"),
    b256!("47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"),
    b256!("8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"),
    b256!("92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"),
    b256!("4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"),
    b256!("dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"),
    b256!("2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"),
];

/// Signer for development account `index` (0..10). Account 0 deploys and administers the devnet.
///
/// # Panics
/// If `index >= 10`; the indices are compile-time choices of callers, not user input.
pub fn dev_signer(index: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&DEV_PRIVATE_KEYS[index])
        .expect("the well-known dev keys are valid")
}

/// Addresses of all development accounts, in order.
pub fn dev_addresses() -> Vec<Address> {
    (0..DEV_PRIVATE_KEYS.len())
        .map(|i| dev_signer(i).address())
        .collect()
}
