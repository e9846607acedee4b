//! decloud across hosts on one machine: a [`Network`] gives each host its own network namespace
//! and address, joined by one bridge (the machine itself is a host too, on the bridge's
//! address), so services reach each other only over a network that a test can break: a host cut
//! off ([`Network::cut`]), two hosts that no longer see each other ([`Network::block`]). Each
//! service is a separate process started in its host ([`Network::spawn`]), killed when its
//! [`HostProcess`] is dropped. [`audit`] reads the chain to check that nothing was lost after a
//! fault: every task finalized, every token accounted for, no contribution twice.
//!
//! Creating namespaces needs root; [`Network::create`] fails with [`ClusterError::Unavailable`]
//! (a reason to skip, not a failure) where it is not allowed. Names carry this process's id, so
//! parallel runs never collide, and a run that died without cleaning up (SIGKILL) is removed by
//! the next one: its processes killed, its namespaces and bridge deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;

/// Prefix of every namespace and link this harness makes (`dcn<pid>x<n>-<host>`).
const PREFIX: &str = "dcn";
/// The first two bytes of every subnet: one /24 of 10.77.0.0/16 per network.
const SUBNET: [u8; 2] = [10, 77];
/// The machine's own address on each network's bridge.
const BRIDGE_HOST: u8 = 254;

/// Why the cluster harness cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Network namespaces cannot be made here: the test should skip, saying why.
    #[error("network namespaces are unavailable: {0}")]
    Unavailable(String),
    /// An `ip` command failed.
    #[error("`ip {args}` failed: {stderr}")]
    Ip {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// A host name not in this network.
    #[error("no host {0:?} in this network")]
    NoHost(String),
    /// A process could not be started or stopped.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A service did not print what it should within its time.
    #[error("{what} within {timeout:?}; its log {log} ends with: {tail}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
        /// The process's log.
        log: String,
        /// The log's last lines.
        tail: String,
    },
    /// The chain could not be read.
    #[error(transparent)]
    Chain(#[from] decloud_chain::ChainError),
    /// A log query failed.
    #[error("eth_getLogs failed: {0}")]
    Logs(#[source] alloy::transports::TransportError),
}

/// One host of a [`Network`]: a namespace with one link to the bridge.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its name in the test ("chain", "worker1").
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// Its address on the bridge.
    pub addr: Ipv4Addr,
    /// The machine's end of its link (set down to cut the host off).
    link: String,
}

/// Hosts in network namespaces on one bridge. Dropping it kills every process left in its
/// namespaces and deletes them and the bridge.
#[derive(Debug)]
pub struct Network {
    bridge: String,
    subnet: u8,
    hosts: Vec<Host>,
}

/// Numbers the networks of this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs `ip args`, failing with what it printed.
fn ip(args: &[&str]) -> Result<String, ClusterError> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Io {
            what: "cannot run ip (install iproute2)".into(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ClusterError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Whether this process runs as root (its effective user id is 0).
pub(crate) fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned));
    uid.as_deref() == Some("0")
}

/// Why this machine cannot make network namespaces, if it cannot.
pub fn unavailable() -> Option<String> {
    if !running_as_root() {
        return Some("not running as root".into());
    }
    match ip(&["netns", "list"]) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Whether process `pid` is alive (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// The owner pid in a name this harness made (`dcn<pid>x<n>...`).
fn owner_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    rest[digits.len()..].starts_with('x').then_some(())?;
    digits.parse().ok()
}

/// Kills every process in namespace `netns` and deletes it.
fn remove_netns(netns: &str) {
    if let Ok(pids) = ip(&["netns", "pids", netns]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = ip(&["netns", "delete", netns]);
}

/// Removes what runs that are no longer alive left behind (namespaces, their processes, bridges).
pub fn reap_leftovers() {
    let mine = std::process::id();
    let dead = |name: &str| owner_of(name).is_some_and(|pid| pid != mine && !alive(pid));
    if let Ok(list) = ip(&["netns", "list"]) {
        for netns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if dead(netns) {
                remove_netns(netns);
            }
        }
    }
    if let Ok(links) = ip(&["-o", "link", "show", "type", "bridge"]) {
        for link in links.lines().filter_map(|l| l.split(": ").nth(1)) {
            let link = link.split('@').next().unwrap_or(link);
            if dead(link) {
                let _ = ip(&["link", "delete", link]);
            }
        }
    }
}

impl Network {
    /// Makes a bridge with its own /24 of 10.77.0.0/16 (the machine is `.254` on it) and one
    /// namespace per name, host `i` at `.i+1`, each with loopback up and a link to the bridge.
    pub fn create(names: &[&str]) -> Result<Self, ClusterError> {
        if let Some(reason) = unavailable() {
            return Err(ClusterError::Unavailable(reason));
        }
        reap_leftovers();
        let run = format!(
            "{PREFIX}{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // A subnet no route of this machine uses yet (another run's, or the machine's own).
        let routes = ip(&["-4", "route", "show"])?;
        let subnet = (1..=250u8)
            .find(|n| !routes.contains(&format!("{}.{}.{n}.", SUBNET[0], SUBNET[1])))
            .ok_or_else(|| {
                ClusterError::Unavailable("every subnet of 10.77.0.0/16 is in use".into())
            })?;
        // Interface names have at most 15 bytes: the bridge is the run's name, links "<run>v<i>".
        let mut network = Self {
            bridge: run.clone(),
            subnet,
            hosts: Vec::new(),
        };
        ip(&["link", "add", &run, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", network.addr(BRIDGE_HOST)),
            "dev",
            &run,
        ])?;
        ip(&["link", "set", &run, "up"])?;
        for (i, name) in names.iter().enumerate() {
            let host = Host {
                name: (*name).to_owned(),
                netns: format!("{run}-{name}"),
                addr: network.addr(u8::try_from(i + 1).unwrap_or(u8::MAX)),
                link: format!("{run}v{i}"),
            };
            let inside = format!("{run}p{i}");
            ip(&["netns", "add", &host.netns])?;
            network.hosts.push(host.clone());
            ip(&[
                "link", "add", &host.link, "type", "veth", "peer", "name", &inside,
            ])?;
            ip(&["link", "set", &inside, "netns", &host.netns])?;
            ip(&["link", "set", &host.link, "master", &run, "up"])?;
            let ns = |args: &[&str]| {
                let mut all = vec!["-n", host.netns.as_str()];
                all.extend_from_slice(args);
                ip(&all)
            };
            ns(&["link", "set", "lo", "up"])?;
            ns(&["link", "set", &inside, "name", "eth0"])?;
            ns(&["addr", "add", &format!("{}/24", host.addr), "dev", "eth0"])?;
            ns(&["link", "set", "eth0", "up"])?;
        }
        Ok(network)
    }

    /// Address `.last` of this network's subnet.
    fn addr(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(SUBNET[0], SUBNET[1], self.subnet, last)
    }

    /// The machine's own address on the bridge (where a test's requester talks from).
    pub fn bridge_addr(&self) -> Ipv4Addr {
        self.addr(BRIDGE_HOST)
    }

    /// Host `name`.
    pub fn host(&self, name: &str) -> Result<&Host, ClusterError> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| ClusterError::NoHost(name.to_owned()))
    }

    /// Every host, in creation order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// `program` to run inside host `name` (`ip netns exec <netns> program`).
    pub fn command(
        &self,
        name: &str,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> Result<Command, ClusterError> {
        let host = self.host(name)?;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &host.netns]).arg(program);
        Ok(command)
    }

    /// Starts `command` (made by [`Network::command`]) with its output in `log`.
    pub fn spawn(
        &self,
        name: &str,
        command: &mut Command,
        log: &Path,
    ) -> Result<HostProcess, ClusterError> {
        let io = |what: String| move |source| ClusterError::Io { what, source };
        // Appended, so that a restarted process's log follows its predecessor's (a post-mortem
        // needs both).
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(format!("cannot open {}", log.display())))?;
        let since = out
            .metadata()
            .map_err(io(format!("cannot read {}", log.display())))?
            .len();
        let err = out
            .try_clone()
            .map_err(io(format!("cannot open {}", log.display())))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("cannot start a process in {name}")))?;
        Ok(HostProcess {
            child,
            host: name.to_owned(),
            log: log.to_path_buf(),
            since,
        })
    }

    /// Cuts host `name` off the network (its link down): its connections hang, as when a cable
    /// is pulled, and nothing reaches it until [`Network::heal`].
    pub fn cut(&self, name: &str) -> Result<(), ClusterError> {
        ip(&["link", "set", &self.host(name)?.link, "down"]).map(drop)
    }

    /// Puts host `name` back on the network.
    pub fn heal(&self, name: &str) -> Result<(), ClusterError> {
        ip(&["link", "set", &self.host(name)?.link, "up"]).map(drop)
    }

    /// Partitions hosts `a` and `b`: each refuses to route to the other (an unreachable route
    /// in both namespaces), while both still reach every other host.
    pub fn block(&self, a: &str, b: &str) -> Result<(), ClusterError> {
        let (ha, hb) = (self.host(a)?, self.host(b)?);
        for (from, to) in [(ha, hb), (hb, ha)] {
            ip(&[
                "-n",
                &from.netns,
                "route",
                "add",
                "prohibit",
                &format!("{}/32", to.addr),
            ])?;
        }
        Ok(())
    }

    /// Ends a partition made by [`Network::block`].
    pub fn unblock(&self, a: &str, b: &str) -> Result<(), ClusterError> {
        let (ha, hb) = (self.host(a)?, self.host(b)?);
        for (from, to) in [(ha, hb), (hb, ha)] {
            ip(&[
                "-n",
                &from.netns,
                "route",
                "del",
                "prohibit",
                &format!("{}/32", to.addr),
            ])?;
        }
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for host in &self.hosts {
            remove_netns(&host.netns);
        }
        // Deleting a namespace deletes its end of each link, and the other end with it.
        let _ = ip(&["link", "delete", &self.bridge]);
    }
}

/// A process running in one host, its output in a log file. Killed when dropped.
#[derive(Debug)]
pub struct HostProcess {
    child: Child,
    host: String,
    log: PathBuf,
    /// Where this process's output starts in `log` (earlier lines are a predecessor's).
    since: u64,
}

impl HostProcess {
    /// The process id (`ip netns exec` runs the program in its own place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of its log.
    pub fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until a line of its log starts with `prefix` and returns the line, or fails when
    /// the process ends or `timeout` passes first.
    pub async fn wait_line(
        &mut self,
        prefix: &str,
        timeout: Duration,
    ) -> Result<String, ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let text = std::fs::read(&self.log).unwrap_or_default();
            let ours = text.get(self.since as usize..).unwrap_or_default();
            if let Some(line) = String::from_utf8_lossy(ours)
                .lines()
                .find(|l| l.starts_with(prefix))
            {
                return Ok(line.to_owned());
            }
            let ended = matches!(self.child.try_wait(), Ok(Some(_)));
            if ended || tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: format!(
                        "{} in {} printed no line starting {prefix:?}{}",
                        self.log.display(),
                        self.host,
                        if ended { " before it ended" } else { "" }
                    ),
                    timeout,
                    log: self.log.display().to_string(),
                    tail: self.tail(5),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the process to end.
    pub fn stop(mut self, signal: &str) -> Result<std::process::ExitStatus, ClusterError> {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
        self.child.wait().map_err(|source| ClusterError::Io {
            what: format!("waiting for a process of {}", self.host),
            source,
        })
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL a `decloud node` line announces after `marker` (" on ", " at ").
pub fn url_after(line: &str, marker: &str) -> Option<String> {
    let rest = line.split(marker).nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// What the chain says after a run: see [`audit`].
#[derive(Clone, Debug, Default)]
pub struct Audit {
    /// Tokens deposited into the escrow, ever.
    pub deposited: U256,
    /// Tokens withdrawn from it, ever (paid out).
    pub withdrawn: U256,
    /// The hub's token balance.
    pub held: U256,
    /// Free balances plus frozen amounts of every account that ever held anything.
    pub accounts: U256,
    /// Stakes locked in the worker registry.
    pub registry_stakes: U256,
    /// The kitty (seized scheduler stakes waiting for finalizations).
    pub kitty: U256,
    /// Tasks neither completed nor failed (claimed).
    pub open: Vec<(B256, u8)>,
    /// Tasks claimed (status FAILED).
    pub claimed: Vec<B256>,
    /// `(task, worker)` pairs with more than one contribution on chain.
    pub duplicates: Vec<(B256, Address)>,
    /// Contributions per task.
    pub contributions: BTreeMap<B256, Vec<Address>>,
}

impl Audit {
    /// The problems found, one line each (none: nothing lost).
    pub fn problems(&self) -> Vec<String> {
        let mut found = Vec::new();
        let net = self.deposited.saturating_sub(self.withdrawn);
        if self.held != net {
            found.push(format!(
                "the hub holds {} tokens but {} were deposited and {} paid out",
                self.held, self.deposited, self.withdrawn
            ));
        }
        let inside = self.accounts + self.registry_stakes + self.kitty;
        if inside != self.held {
            found.push(format!(
                "balances + frozen ({}) + registry stakes ({}) + kitty ({}) = {inside}, but the hub holds {}",
                self.accounts, self.registry_stakes, self.kitty, self.held
            ));
        }
        for (task, status) in &self.open {
            found.push(format!("task {task} is not finalized (status {status})"));
        }
        for (task, worker) in &self.duplicates {
            found.push(format!("worker {worker} contributed twice to task {task}"));
        }
        found
    }
}

/// Every log of `event` from the hub since the deployment.
async fn hub_logs<E: SolEvent>(chain: &Client) -> Result<Vec<E>, ClusterError> {
    let filter = Filter::new()
        .address(chain.profile().contracts.hub)
        .event_signature(E::SIGNATURE_HASH)
        .from_block(chain.profile().deployment_block);
    let logs = chain
        .provider()
        .get_logs(&filter)
        .await
        .map_err(ClusterError::Logs)?;
    Ok(logs
        .iter()
        .filter_map(|l| E::decode_log(&l.inner).ok().map(|e| e.data))
        .collect())
}

/// Reads the chain for "nothing lost": the hub's tokens are exactly the deposits less the
/// withdrawals, and exactly the balances and frozen amounts of every account that appears in an
/// event (plus `accounts`, e.g. app owners that earn without depositing), the worker registry's
/// stakes and the kitty; each of `tasks` is completed or claimed; no worker contributed twice to
/// one task.
pub async fn audit(
    chain: &Client,
    accounts: &[Address],
    tasks: &[B256],
) -> Result<Audit, ClusterError> {
    let hub = chain.hub();
    let hub_address = chain.profile().contracts.hub;
    let mut audit = Audit::default();
    let mut everyone: BTreeSet<Address> = accounts.iter().copied().collect();
    for d in hub_logs::<IHub::Deposit>(chain).await? {
        audit.deposited += d.amount;
        everyone.insert(d.account);
    }
    for w in hub_logs::<IHub::Withdraw>(chain).await? {
        audit.withdrawn += w.amount;
        everyone.insert(w.account);
    }
    let mut seen: BTreeMap<(B256, Address), usize> = BTreeMap::new();
    for c in hub_logs::<IHub::TaskContribute>(chain).await? {
        everyone.insert(c.worker);
        *seen.entry((c.taskid, c.worker)).or_default() += 1;
        audit
            .contributions
            .entry(c.taskid)
            .or_default()
            .push(c.worker);
    }
    audit.duplicates = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect();
    let mut members = BTreeSet::new();
    for j in hub_logs::<IHub::WorkerJoined>(chain).await? {
        everyone.insert(j.worker);
        members.insert((j.workerpool, j.worker));
    }
    for (pool, worker) in members {
        let m = chain
            .read("reading a membership", hub.poolMember(pool, worker))
            .await?;
        audit.registry_stakes += m.stake;
    }
    for account in everyone {
        audit.accounts += chain
            .read("reading a balance", hub.balanceOf(account))
            .await?;
        audit.accounts += chain
            .read("reading a frozen amount", hub.frozenOf(account))
            .await?;
    }
    audit.kitty = chain.read("reading the kitty", hub.kitty()).await?;
    audit.held = chain.token_balance(hub_address).await?;
    for &task in tasks {
        let view = chain.read("reading a task", hub.task(task)).await?;
        match view.status {
            3 => {}
            4 => audit.claimed.push(task),
            s => audit.open.push((task, s)),
        }
    }
    Ok(audit)
}
