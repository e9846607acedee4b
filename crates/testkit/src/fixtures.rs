//! Set-up that integration tests and benchmarks share beyond a devnet and a pool: the example
//! apps' modules, blobs downloaded from a storage node, waiting for a state, and services
//! started as child processes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use decloud_chain::ChainError;
use decloud_chain::client::Client;
use decloud_scheduler::api::TaskReport;

use crate::Devnet;

/// Where `scripts/build-apps` leaves the example apps' modules, from the repository root.
const APPS_DIR: &str = "apps/target/wasm32-wasip1/release";

/// Why a fixture is not available.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// An example app's module was not built.
    #[error("{}: {source}: run scripts/build-apps (scripts/bootstrap does)", path.display())]
    MissingApp {
        /// The module's expected path.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A command failed; its standard error says why.
    #[error("the command failed: {0}")]
    Failed(String),
    /// A command's output is not the JSON it should print.
    #[error("not JSON ({source}): {text}")]
    Json {
        /// What it printed.
        text: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A service process could not be started or did not say where it listens.
    #[error("the service did not start: {0}")]
    Service(String),
    /// A temporary directory could not be created.
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    /// The market could not be started or its book opened.
    #[error("the test market failed: {0}")]
    Market(#[from] decloud_market::MarketError),
    /// A blob could not be downloaded.
    #[error("downloading the blob failed: {0}")]
    Storage(#[from] decloud_storage::StorageError),
    /// Anvil refused one of its test methods.
    #[error("anvil's {method} failed: {source}")]
    Rpc {
        /// The JSON-RPC method.
        method: &'static str,
        /// Why it failed.
        #[source]
        source: alloy::transports::TransportError,
    },
    /// A URI's last segment is not the hash of a blob.
    #[error("{name:?} names no blob: {source}")]
    BlobName {
        /// The segment.
        name: String,
        /// Why it is not a hash.
        #[source]
        source: decloud_storage::ParseHashError,
    },
    /// What a test waited for did not happen in time.
    #[error("{what} within {timeout:?}")]
    Timeout {
        /// What did not happen, in the words of the test ("no task finished").
        what: String,
        /// How long the test waited.
        timeout: Duration,
    },
    /// A test contract of forge's build output is missing or cannot be deployed.
    #[error(
        "test contract {name}: {reason} (build the contracts first: cd contracts && forge build)"
    )]
    TestContract {
        /// The contract's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// An HTTP request to a service failed or its answer is not JSON.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// A service URL that cannot be used.
    #[error("{0}")]
    Transport(String),
    /// The sandbox could not run an app the way a worker would.
    #[error("the sandbox: {0}")]
    Runtime(String),
    /// Anvil holds no such snapshot (each can be reverted to once).
    #[error("anvil has no snapshot {0}")]
    NoSnapshot(alloy::primitives::U256),
    /// The node answered that it has no latest block.
    #[error("the node has no latest block")]
    NoBlock,
}

/// The path of example app `name`'s module (built or not).
pub fn example_app_path(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(APPS_DIR).join(format!("{name}.wasm"))
}

/// The module of example app `name`, or what to run when it was not built.
pub fn example_app(name: &str) -> Result<Vec<u8>, FixtureError> {
    let path = example_app_path(name);
    std::fs::read(&path).map_err(|source| FixtureError::MissingApp { path, source })
}

/// Registers an app called `name`, owned by development account `owner`, for tests of orders
/// (its module location and checksum are placeholders: nothing runs it); returns its id.
pub async fn register_order_app(
    devnet: &Devnet,
    owner: usize,
    name: &str,
) -> Result<Address, ChainError> {
    let client = crate::pool::client(devnet, owner).await?;
    let uri = format!("file://{name}.wasm");
    decloud_chain::actions::register_app(&client, name, &uri, B256::repeat_byte(7), B256::ZERO)
        .await
}

/// The bytes of the blob at `uri` (a store location, then the blob's hash), at most
/// `max_bytes` of them: an uploaded module or a result archive, as a worker or a requester
/// would download it.
pub async fn download(uri: &str, max_bytes: u64) -> Result<Vec<u8>, FixtureError> {
    let (base, name) = decloud_storage::uri::split_pinned(uri)?;
    let id = name.parse().map_err(|source| FixtureError::BlobName {
        name: name.to_owned(),
        source,
    })?;
    let bytes = decloud_storage::BlobStore::from_url(&base)?
        .get(&id, max_bytes)
        .await?;
    Ok(bytes.to_vec())
}

/// Asks `probe` every 100 ms until it answers, for at most `timeout`; `what` says what did not
/// happen when it never does. Services move on their own (a scheduler follows the chain by
/// passes, a worker by polls), so a test waits for the state it expects rather than for a
/// fixed time.
pub async fn eventually<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut probe: F,
) -> Result<T, FixtureError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(answer) = probe().await {
            return Ok(answer);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(FixtureError::Timeout {
                what: what.to_owned(),
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every event `E` the hub emitted for `task` (its first indexed topic), oldest first.
pub async fn hub_events<E: SolEvent>(chain: &Client, task: B256) -> Result<Vec<E>, FixtureError> {
    let filter = Filter::new()
        .address(chain.profile().contracts.hub)
        .event_signature(E::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    let logs = chain
        .provider()
        .get_logs(&filter)
        .await
        .map_err(|source| FixtureError::Rpc {
            method: "eth_getLogs",
            source,
        })?;
    Ok(logs
        .iter()
        .filter_map(|l| E::decode_log(&l.inner).ok().map(|e| e.data))
        .collect())
}

/// The scheduler at `url`'s view of `task` (`GET /v1/tasks/{task}`), `None` when it does not
/// answer one.
pub async fn scheduler_task(url: &str, task: B256) -> Option<TaskReport> {
    let (url, http) = decloud_service::transport::api_client(url).ok()?;
    let response = http
        .get(format!("{url}/v1/tasks/{task}"))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// The digest an honest worker contributes for `task` of `deal` (started at `start_time`)
/// running `wasm` with `args`, computed in the sandbox a worker uses.
pub async fn honest_digest(
    wasm: &[u8],
    deal: &decloud_protocol::typed::Deal,
    task: B256,
    start_time: u64,
    args: &str,
) -> Result<B256, FixtureError> {
    use decloud_runtime::{Limits, Runtime, RuntimeConfig, TaskContext};
    let runtime_error = |e: &dyn std::fmt::Display| FixtureError::Runtime(e.to_string());
    let (wasm, reference, args) = (
        wasm.to_vec(),
        u64::try_from(deal.workClockTimeRef).unwrap_or(u64::MAX),
        args.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| runtime_error(&e))?;
        let app = runtime.compile(&wasm).map_err(|e| runtime_error(&e))?;
        let out = tempfile::tempdir().map_err(FixtureError::TempDir)?;
        let ctx = TaskContext {
            task_id: task.0,
            args: TaskContext::split_args(&args).map_err(|e| runtime_error(&e))?,
            clock_secs: start_time,
            ..TaskContext::default()
        };
        let limits = Limits::for_category(reference);
        let report = runtime
            .run(&app, &ctx, None, out.path(), &limits)
            .map_err(|e| runtime_error(&e))?;
        let contribution = report
            .outcome
            .contribution(false)
            .ok_or_else(|| runtime_error(&"the app ran past its wall-clock cap"))?;
        Ok(B256::from(contribution.digest.0))
    })
    .await
    .map_err(|e| runtime_error(&e))?
}

/// The standard output of a finished command, or its standard error as the failure.
pub fn succeeded(out: &Output) -> Result<String, FixtureError> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(FixtureError::Failed(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// The JSON a successful command printed.
pub fn json_output(out: &Output) -> Result<serde_json::Value, FixtureError> {
    let text = succeeded(out)?;
    serde_json::from_str(&text).map_err(|source| FixtureError::Json { text, source })
}

/// A service (or any child process) that is killed when dropped, so that a failing test leaves
/// nothing behind.
#[derive(Debug)]
pub struct Service(Child);

impl From<Child> for Service {
    fn from(child: Child) -> Self {
        Self(child)
    }
}

impl Service {
    /// The process's standard output, when it was piped and is not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.0.stdout.take()
    }

    /// Waits for the process to end on its own.
    pub fn wait(mut self) -> std::io::Result<ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` (a `decloud node ...`) and returns it with the URL it announces on its
/// first line of output (`... on <url>`).
pub fn start_service(command: &mut Command) -> Result<(Service, String), FixtureError> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| FixtureError::Service(e.to_string()))?;
    let stdout = child.stdout.take();
    let service = Service(child);
    let mut line = String::new();
    if let Some(stdout) = stdout {
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| FixtureError::Service(e.to_string()))?;
    }
    let url = line
        .split(" on ")
        .nth(1)
        .ok_or_else(|| FixtureError::Service(format!("no address in {line:?}")))?;
    Ok((service, url.trim().to_owned()))
}

/// Deploys contract `name` (no constructor arguments) from forge's build output
/// (`contracts/out/<name>.sol/<name>.json`): the test harnesses that expose the contracts' own
/// code to the Rust tests. Returns its address.
pub async fn deploy_test_contract(
    provider: &alloy::providers::DynProvider,
    name: &str,
) -> Result<Address, FixtureError> {
    use alloy::network::TransactionBuilder;
    use alloy::providers::Provider;
    let failed = |reason: String| FixtureError::TestContract {
        name: name.to_owned(),
        reason,
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/out")
        .join(format!("{name}.sol/{name}.json"));
    let text =
        std::fs::read_to_string(&path).map_err(|e| failed(format!("{}: {e}", path.display())))?;
    let artifact: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| failed(e.to_string()))?;
    let code: alloy::primitives::Bytes = artifact["bytecode"]["object"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| failed(format!("bytecode: {e}")))?;
    let tx = alloy::rpc::types::TransactionRequest::default().with_deploy_code(code);
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(|e| failed(e.to_string()))?
        .get_receipt()
        .await
        .map_err(|e| failed(e.to_string()))?;
    receipt
        .contract_address
        .filter(|_| receipt.status())
        .ok_or_else(|| failed("the deployment reverted".into()))
}
