//! The testkit gives a real anvil with the contracts deployed and the dev accounts funded.

use alloy::primitives::U256;
use alloy::providers::Provider;
use decloud_chain::accounts;
use decloud_chain::contracts::DevToken;
use decloud_chain::devnet::DEV_ACCOUNT_FUNDS;
use decloud_testkit::Devnet;

#[tokio::test]
async fn devnet_deploys_the_token_and_funds_every_dev_account() {
    let devnet = Devnet::start().await.expect("devnet starts");
    let provider = devnet.provider(0);
    assert_eq!(
        provider.get_chain_id().await.unwrap(),
        devnet.profile().chain_id
    );

    // The keys we hard-code are the ones anvil funds with ether.
    let anvil_accounts = provider.get_accounts().await.unwrap();
    assert_eq!(anvil_accounts, accounts::dev_addresses());

    let token = DevToken::new(devnet.profile().contracts.token, &provider);
    assert_eq!(token.symbol().call().await.unwrap(), "DCT");
    assert_eq!(token.decimals().call().await.unwrap(), 9);
    for account in accounts::dev_addresses() {
        let balance = token.balanceOf(account).call().await.unwrap();
        assert_eq!(balance, U256::from(DEV_ACCOUNT_FUNDS), "{account}");
    }
    // The profile on disk is the one the testkit hands out.
    let on_disk = decloud_chain::ChainProfile::load(devnet.home()).unwrap();
    assert_eq!(&on_disk, devnet.profile());
}

#[tokio::test]
async fn two_devnets_run_side_by_side_and_stop_when_dropped() {
    let (a, b) = tokio::join!(Devnet::start(), Devnet::start());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.rpc_url(), b.rpc_url());

    // A transfer on one chain is invisible on the other.
    let token_a = DevToken::new(a.profile().contracts.token, a.provider(1));
    let receiver = accounts::dev_addresses()[2];
    // Waits for the transfer to be mined (its receipt is not needed).
    let pending = token_a.transfer(receiver, U256::from(7)).send().await;
    pending.unwrap().watch().await.unwrap();
    let token_b = DevToken::new(b.profile().contracts.token, b.provider(1));
    let on_a = token_a.balanceOf(receiver).call().await.unwrap();
    let on_b = token_b.balanceOf(receiver).call().await.unwrap();
    assert_eq!(on_a, on_b + U256::from(7));

    let url = a.rpc_url().to_owned();
    drop(a);
    let err = decloud_chain::devnet::block_number(&url).await.unwrap_err();
    assert!(err.to_string().contains("cannot reach the chain"), "{err}");
}
