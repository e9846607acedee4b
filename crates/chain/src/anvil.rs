//! The local chain: finding the pinned `anvil` binary, starting it on a port, waiting until it
//! answers, and stopping exactly the process we started.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::Provider;

use crate::ChainError;

/// Chain id of every decloud devnet (anvil's default, known to wallets as a local chain).
pub const DEVNET_CHAIN_ID: u64 = 31337;

/// How long a freshly started anvil may take to answer before we give up.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Finds the anvil binary: `$DECLOUD_ANVIL`, then `.tools/bin/anvil` in the checkout this binary
/// was built from or any parent of the working directory, then `anvil` on `PATH`.
pub fn find_binary() -> Result<PathBuf, ChainError> {
    let mut searched = Vec::new();
    if let Some(explicit) = std::env::var_os("DECLOUD_ANVIL").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        if is_executable(&path) {
            return Ok(path);
        }
        return Err(ChainError::AnvilNotFound {
            searched: format!("DECLOUD_ANVIL={}", path.display()),
        });
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    // Build-time location of this crate: crates/chain -> the checkout root.
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    for root in roots {
        let candidate = root.join(".tools/bin/anvil");
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        searched.push(candidate.display().to_string());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("anvil");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    searched.dedup();
    searched.truncate(3);
    searched.push("PATH".into());
    Err(ChainError::AnvilNotFound {
        searched: searched.join(", "),
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True when nothing listens on `127.0.0.1:port`.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
}

/// A port the OS considers free right now (another process may still take it before we do).
pub fn free_port() -> Result<u16, ChainError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| ChainError::io("cannot bind", "127.0.0.1:0", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ChainError::io("cannot read the address of", "127.0.0.1:0", e))
}

/// How to start anvil.
#[derive(Clone, Debug)]
pub struct AnvilOptions {
    /// The anvil binary; `None` uses [`find_binary`].
    pub binary: Option<PathBuf>,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Where anvil's output goes (it is also where a failed start is explained).
    pub log_path: PathBuf,
    /// Start anvil in its own process group so that it outlives the command that started it
    /// and a Ctrl-C in that terminal does not reach it.
    pub detached: bool,
    /// Keep only this many recent states, in memory, instead of anvil's full history (which it
    /// snapshots to disk as blocks pass: on an instant-mining devnet that costs more CPU per
    /// block as the contracts' storage grows). `None` keeps the full history, for tools that
    /// read old state (`cast call --block`).
    pub recent_states: Option<u64>,
    /// More arguments for anvil, e.g. `--block-base-fee-per-gas 1000000000` to start with a fee
    /// market like a real chain's.
    pub extra_args: Vec<String>,
}

/// A running anvil that we started. Dropping it stops it, unless it was [`Anvil::detach`]ed.
#[derive(Debug)]
pub struct Anvil {
    child: Option<Child>,
    pid: u32,
    rpc_url: String,
    log_path: PathBuf,
}

impl Anvil {
    /// Starts anvil with instant mining (switch to interval mining with
    /// [`crate::devnet::set_block_time`] once contracts are deployed) and waits until it answers.
    pub async fn start(options: AnvilOptions) -> Result<Self, ChainError> {
        let binary = match options.binary {
            Some(b) => b,
            None => find_binary()?,
        };
        if !port_is_free(options.port) {
            return Err(ChainError::PortInUse { port: options.port });
        }
        let log = File::create(&options.log_path)
            .map_err(|e| ChainError::io("cannot create", &options.log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| ChainError::io("cannot open", &options.log_path, e))?;
        let mut command = Command::new(&binary);
        command
            .args(["--host", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--chain-id", &DEVNET_CHAIN_ID.to_string()])
            .args(["--accounts", "10", "--balance", "10000"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(states) = options.recent_states {
            command.args(["--prune-history", &states.to_string()]);
        }
        command.args(&options.extra_args);
        if options.detached {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command.spawn().map_err(|e| ChainError::AnvilFailed {
            reason: format!("cannot run {}: {e}", binary.display()),
            log: options.log_path.display().to_string(),
        })?;
        let mut anvil = Self {
            pid: child.id(),
            child: Some(child),
            rpc_url: format!("http://127.0.0.1:{}", options.port),
            log_path: options.log_path,
        };
        anvil.wait_ready().await?;
        Ok(anvil)
    }

    async fn wait_ready(&mut self) -> Result<(), ChainError> {
        let provider = crate::client::read_only_provider(&self.rpc_url)?;
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(self.failure(format!("it exited with {status}")));
            }
            if let Ok(chain_id) = provider.get_chain_id().await {
                tracing::debug!(pid = self.pid, chain_id, "anvil answers");
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(self.failure(format!("no answer within {}s", READY_TIMEOUT.as_secs())));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn failure(&self, reason: String) -> ChainError {
        let tail = std::fs::read_to_string(&self.log_path)
            .ok()
            .and_then(|log| {
                log.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(str::to_owned)
            });
        ChainError::AnvilFailed {
            reason: match tail {
                Some(line) => format!("{reason}; it said: {line}"),
                None => reason,
            },
            log: self.log_path.display().to_string(),
        }
    }

    /// JSON-RPC endpoint of this anvil.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// Process id of this anvil.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets anvil outlive this handle (for `decloud devnet up`); returns its pid.
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// True when `pid` is alive and is an anvil process (so that a pid file left by a crash never
/// makes us signal an unrelated process that reused the number).
pub fn is_anvil_process(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    Path::new(std::str::from_utf8(program).unwrap_or_default())
        .file_name()
        .is_some_and(|name| name == "anvil")
}

/// Sends SIGTERM to `pid` and waits up to five seconds for it to exit (SIGKILL after that).
pub fn terminate(pid: u32) -> Result<(), ChainError> {
    let raw = i32::try_from(pid).map_err(|_| ChainError::AnvilFailed {
        reason: format!("pid {pid} is out of range"),
        log: String::new(),
    })?;
    // SAFETY: kill(2) has no memory-safety preconditions; we only signal a pid we checked is anvil.
    unsafe { libc::kill(raw, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !is_anvil_process(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe { libc::kill(raw, libc::SIGKILL) };
    Ok(())
}
