//! The one error type of the library: each message is one line that says what to do.

use std::path::PathBuf;

use alloy::primitives::{Address, B256};
use decloud_chain::ChainError;
use decloud_market::client::ClientError as MarketError;
use decloud_protocol::ProtocolError;
use decloud_protocol::matching::MatchError;
use decloud_storage::StorageError;

/// What can go wrong buying, selling, following or downloading work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Reading the chain's event logs failed.
    #[error(transparent)]
    Logs(#[from] decloud_chain::follower::FollowerError),
    /// The market refused or could not be reached.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// An order could not be hashed or signed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// An order's JSON body is not an order of its kind.
    #[error(transparent)]
    OrderBody(#[from] serde_json::Error),
    /// A storage location could not be used.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The client has no wallet to send with.
    #[error("no wallet")]
    NoWallet,
    /// An upload failed.
    #[error("cannot upload {} to {location}", .file.display())]
    Upload {
        /// The file.
        file: PathBuf,
        /// The storage location.
        location: String,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The same resource is registered already.
    #[error("this {what} is already deployed at {id}: see `decloud {kind} show {id}`")]
    AlreadyDeployed {
        /// The kind and what makes it the same.
        what: &'static str,
        /// `app` or `dataset`.
        kind: &'static str,
        /// Its address.
        id: Address,
    },
    /// A registration transaction without its event.
    #[error("deploying the {0}: the receipt has no registration event")]
    NoRegistration(&'static str),
    /// No resource at this address.
    #[error(
        "no {kind} {address} on this chain: check the address, or list them with `decloud {kind} list --all`"
    )]
    UnknownResource {
        /// `app`, `dataset` or `workerpool`.
        kind: &'static str,
        /// The address.
        address: Address,
    },
    /// The wallet holds fewer tokens than the deposit.
    #[error(
        "insufficient tokens: wallet {wallet} holds {holds} but the deposit needs {needs}; deposit less, or fund the wallet (on a devnet: transfer from a dev account)"
    )]
    InsufficientTokens {
        /// The wallet.
        wallet: Address,
        /// What it holds, formatted.
        holds: String,
        /// The deposit, formatted.
        needs: String,
    },
    /// Nothing free in the escrow.
    #[error(
        "nothing to withdraw: {account} has 0 DCT free in the escrow ({frozen} frozen in deals and stakes)"
    )]
    NothingToWithdraw {
        /// The account.
        account: Address,
        /// What is frozen, formatted.
        frozen: String,
    },
    /// Less free in the escrow than the withdrawal.
    #[error(
        "insufficient balance: {account} has {balance} free in the escrow ({frozen} frozen) and cannot withdraw {amount}; withdraw at most the free balance (`decloud account withdraw all`)"
    )]
    InsufficientEscrow {
        /// The account.
        account: Address,
        /// Its free balance, formatted.
        balance: String,
        /// What is frozen, formatted.
        frozen: String,
        /// The withdrawal, formatted.
        amount: String,
    },
    /// Reading one of the market's order books failed.
    #[error("reading the {kind} order book")]
    OrderBook {
        /// The book's kind (`app`, `workerpool`, ...).
        kind: &'static str,
        /// Why.
        #[source]
        source: MarketError,
    },
    /// No app order of the market may be used by this requester.
    #[error(
        "no app order for {app} that you may use in the market at {market}: ask the app's owner to publish one (`decloud order publish --app`)"
    )]
    NoAppOrder {
        /// The app.
        app: Address,
        /// The market's URL.
        market: String,
    },
    /// No dataset order of the market may be used with this app by this requester.
    #[error(
        "no dataset order for {dataset} that you may use with app {app} in the market at {market}: ask the dataset's owner to publish one (`decloud order publish --dataset`)"
    )]
    NoDatasetOrder {
        /// The dataset.
        dataset: Address,
        /// The app.
        app: Address,
        /// The market's URL.
        market: String,
    },
    /// Every app order was consumed or cancelled on chain after the market listed it.
    #[error(
        "every app order for {app} in the market at {market} is consumed or cancelled on chain: ask the app's owner to publish a new one"
    )]
    AppOrdersGone {
        /// The app.
        app: Address,
        /// The market's URL.
        market: String,
    },
    /// Every dataset order was consumed or cancelled on chain after the market listed it.
    #[error(
        "every dataset order for {dataset} in the market at {market} is consumed or cancelled on chain: ask the dataset's owner to publish a new one"
    )]
    DatasetOrdersGone {
        /// The dataset.
        dataset: Address,
        /// The market's URL.
        market: String,
    },
    /// Compatible workerpool orders exist, but none of their schedulers can stake for the deal.
    #[error(
        "no compatible workerpool order whose scheduler can stake for the deal: the scheduler of workerpool {workerpool}{others} has not deposited enough; ask its owner to deposit with `decloud account deposit`, or lower --volume"
    )]
    Unstaked {
        /// The first such workerpool.
        workerpool: Address,
        /// ` (and those of N other orders)`, or nothing.
        others: String,
    },
    /// No workerpool order fits the request.
    #[error(
        "no compatible workerpool order in the market at {market} ({wanted}): publish one (`decloud order publish --workerpool`), or change --category / --trust{flags}"
    )]
    NoWorkerpoolOrder {
        /// The market's URL.
        market: String,
        /// What was asked for: category, trust, tag, workerpool.
        wanted: String,
        /// The further flags to change.
        flags: &'static str,
    },
    /// The requester's escrow can't pay for the deal.
    #[error(
        "insufficient balance: {requester} has {balance} free in the escrow and the deal needs {cost} ({volume} × {per_task}); deposit with `decloud account deposit {missing}`"
    )]
    InsufficientBalance {
        /// The requester.
        requester: Address,
        /// Its free balance, formatted.
        balance: String,
        /// The deal's cost, formatted.
        cost: String,
        /// Tasks in the deal.
        volume: u64,
        /// Price of one task, formatted.
        per_task: String,
        /// What to deposit, formatted without spaces.
        missing: String,
    },
    /// The orders picked fail the hub's matching rules.
    #[error("the orders picked do not match")]
    Mismatch(#[source] MatchError),
    /// No `DealCreated` event for this id.
    #[error("no deal {0} on this chain: check the id (`decloud run` prints it)")]
    UnknownDeal(B256),
    /// No deal of the chain has this task.
    #[error(
        "no task {0} on this chain: check the id (`decloud deal show <deal>` lists a deal's tasks)"
    )]
    UnknownTask(B256),
    /// The task has no certified result yet.
    #[error(
        "task {task} is {status}: it has no certified result yet; follow it with `decloud task show {task} --watch`"
    )]
    NotCompleted {
        /// The task.
        task: B256,
        /// Its status' name.
        status: &'static str,
    },
    /// A completed task without a `TaskConsensus` event.
    #[error("task {0} has no consensus on chain")]
    NoConsensus(B256),
    /// A completed task without a `TaskFinalize` event.
    #[error("task {0} is completed but its TaskFinalize event is missing")]
    NoFinalize(B256),
    /// The results location is not UTF-8.
    #[error("the task's results location is not text: it cannot be downloaded")]
    LocationNotText(#[source] std::string::FromUtf8Error),
    /// The results location is not a URL storage can read.
    #[error("the results location {location:?} is not a URL")]
    LocationNotUrl {
        /// The location.
        location: String,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The callback data does not hash to the certified result.
    #[error(
        "the callback data published for task {0} does not match the certified result: report it to the workerpool"
    )]
    CallbackMismatch(B256),
    /// The task only published callback data.
    #[error(
        "task {task} was finalized without a results location: only its callback data ({bytes} bytes) is available"
    )]
    NoLocation {
        /// The task.
        task: B256,
        /// Size of the callback data.
        bytes: usize,
    },
    /// The output directory already holds files.
    #[error("{} is not empty: choose another directory with -o", .0.display())]
    DirNotEmpty(PathBuf),
    /// The download failed.
    #[error("cannot download the result from {location}")]
    Download {
        /// The location.
        location: String,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The archive could not be unpacked.
    #[error("cannot unpack the result into {}", .dir.display())]
    Unpack {
        /// Where.
        dir: PathBuf,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The downloaded files are not the certified result.
    #[error(
        "the result downloaded from {location} does not match the certified one (consensus hash {consensus}): it was altered; do not trust the files in {}",
        .dir.display()
    )]
    Altered {
        /// Where it came from.
        location: String,
        /// The certified result hash.
        consensus: B256,
        /// Where the untrusted files are.
        dir: PathBuf,
    },
    /// The result is encrypted and no identity was given to open it.
    #[error(
        "the result of task {task} is encrypted to its beneficiary: pass the identity that opens it (--key FILE; `decloud result keygen` writes one)"
    )]
    Encrypted {
        /// The task.
        task: B256,
    },
    /// The identity given does not open the encrypted result.
    #[error(
        "the result of task {task} is certified, but it does not open with this identity: {source}"
    )]
    Decrypt {
        /// The task.
        task: B256,
        /// Why.
        #[source]
        source: decloud_age::AgeError,
    },
    /// A local file or directory operation failed.
    #[error("{what}")]
    Io {
        /// What was being done, e.g. `cannot read orders.json`.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file of signed orders, or an order in it, could not be read.
    #[error("{what}")]
    Json {
        /// What was being read.
        what: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An app that can't be encrypted as given (not a single wasm module), with what to do.
    #[error("{0}")]
    EncryptedApp(String),
    /// A file of signed orders lacks the orders asked for.
    #[error("{0}")]
    MissingOrder(String),
    /// Signed orders of another chain.
    #[error(
        "the orders of {} are signed for chain {signed_chain} (hub {signed_hub}), not this one (chain {chain}, hub {hub}): sign them again",
        .path.display()
    )]
    WrongChain {
        /// The file.
        path: PathBuf,
        /// Chain the orders are signed for.
        signed_chain: u64,
        /// Hub the orders are signed for.
        signed_hub: Address,
        /// This chain.
        chain: u64,
        /// This chain's hub.
        hub: Address,
    },
    /// A resource is not in its registry.
    #[error(
        "{what} {id} is not registered on this chain: deploy it with `decloud {what} deploy`, or fix the address"
    )]
    NotRegistered {
        /// `app`, `dataset` or `workerpool`.
        what: &'static str,
        /// The resource.
        id: Address,
    },
    /// The wallet does not own the resource of the order it signs.
    #[error(
        "the wallet {signer} does not own {what} {id} (its owner is {owner}): sign with the owner's wallet (--wallet)"
    )]
    NotOwner {
        /// The wallet.
        signer: Address,
        /// `app`, `dataset` or `workerpool`.
        what: &'static str,
        /// The resource.
        id: Address,
        /// Its owner.
        owner: Address,
    },
    /// A request order signed by someone else than its requester.
    #[error(
        "the request's requester is {requester} but the wallet is {signer}: sign with the requester's wallet (--wallet), or fix `requester`"
    )]
    NotRequester {
        /// The request's requester.
        requester: Address,
        /// The wallet.
        signer: Address,
    },
}

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }

    /// An [`Error::Json`] saying what was being read.
    pub fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Self {
        let what = what.into();
        move |source| Self::Json { what, source }
    }
}

/// The library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
