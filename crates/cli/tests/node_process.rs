//! Long-running commands as processes: SIGTERM and Ctrl-C (SIGINT) both stop `decloud node`
//! through the clean path with exit status 0, and `decloud demo` with everything it started;
//! and serving a large blob to parallel readers keeps the storage node's resident memory far
//! below the blob's size (downloads stream).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use decloud_storage::{BlobStore, ContentHash};

/// A storage node process, killed if the test fails before it stops it.
struct Node {
    child: Child,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl Node {
    /// Starts `decloud node --storage` on a free port over the blobs in `dir`; `url` is where
    /// its blobs are (`http://addr/blobs`).
    fn start(home: &Path, dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args(["node", "--storage", "--storage-listen", "127.0.0.1:0"])
            .arg("--storage-dir")
            .arg(dir)
            .env("DECLOUD_HOME", home)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the decloud binary runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .split(" on ")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim()
            .to_string();
        Self { child, stdout, url }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`) and returns the exit status and the rest of stdout.
    fn stop_with(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let mut rest = String::new();
        for line in (&mut self.stdout).lines() {
            rest.push_str(&line.unwrap());
            rest.push('\n');
        }
        let status = self.child.wait().unwrap();
        (status, rest)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_ctrl_c_both_stop_the_node_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("blobs");
    let mut stored = None;
    for signal in ["TERM", "INT"] {
        let node = Node::start(home.path(), &dir);
        let store = BlobStore::from_url(&node.url).unwrap();
        match stored {
            // Whatever the previous node stored is served after its stop and this start.
            Some(id) => assert_eq!(&store.get(&id, 1 << 20).await.unwrap()[..], b"kept"),
            None => stored = Some(store.put(b"kept".to_vec()).await.unwrap()),
        }
        let (status, rest) = node.stop_with(signal);
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status:?}, {rest}");
        assert_eq!(
            rest,
            format!("node: stopped on SIG{signal}\n"),
            "SIG{signal}"
        );
    }
}

/// The children of process `parent` whose command name is `name`.
fn children(parent: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            head.ends_with(&format!("({name}")) && ppid == Some(parent)
        })
        .collect()
}

/// Whether process `pid` is still running (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_stops_the_demo_and_the_chain_it_started() {
    let home = tempfile::tempdir().unwrap();
    let demo = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(["demo", "--block-time", "0"])
        .env("DECLOUD_HOME", home.path())
        .env(
            "DECLOUD_APPS",
            decloud_testkit::fixtures::example_app_path("greeting")
                .parent()
                .unwrap(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once its chain runs, the demo is stopped like a service manager stops things.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let anvil = loop {
        let found = children(demo.id(), "anvil");
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(anvil.len(), 1, "the demo starts one anvil");
    let sent = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = demo.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("demo: stopped on SIGTERM"), "{stderr}");
    assert!(
        !alive(anvil[0]),
        "the demo's anvil (pid {}) is stopped",
        anvil[0]
    );
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_downloads_of_a_large_blob_stream_in_little_memory() {
    const BLOB: usize = 200 << 20;
    const READERS: usize = 6;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("blobs");
    let id = {
        let blob: Vec<u8> = (0..BLOB).map(|i| (i % 251) as u8).collect();
        BlobStore::local(&dir).unwrap().put(blob).await.unwrap()
    };
    let node = Node::start(home.path(), &dir);
    // The node speaks TLS: its URL carries its key (…/blobs#sha256:…).
    let (blobs, http) = decloud_service::transport::api_client(&node.url).unwrap();
    // Warm up: the first request's allocations are not the downloads'.
    let base = blobs.trim_end_matches("/blobs");
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let baseline = rss(node.pid());
    assert!(baseline > 0, "RSS is readable from /proc");

    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), node.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (http, url) = (http.clone(), format!("{blobs}/{id}"));
            tokio::spawn(async move {
                let mut response = http.get(url).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                let mut hasher = ContentHashing::default();
                while let Some(chunk) = response.chunk().await.unwrap() {
                    hasher.update(&chunk);
                }
                hasher.finish()
            })
        })
        .collect();
    for reader in readers {
        let (size, got) = reader.await.unwrap();
        assert_eq!(size, BLOB as u64);
        assert_eq!(got, id, "every reader got the blob whole");
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    println!(
        "storage node RSS: baseline {} MiB, peak growth {:.1} MiB while {READERS} readers each downloaded {} MiB",
        baseline >> 20,
        growth as f64 / (1 << 20) as f64,
        BLOB >> 20
    );
    assert!(
        growth < 2 * BLOB as u64,
        "resident memory grew by {growth} bytes serving {READERS} × {BLOB} bytes"
    );
}

/// The size and sha256 of a download, computed as it arrives.
#[derive(Default)]
struct ContentHashing {
    hasher: sha2::Sha256,
    size: u64,
}

impl ContentHashing {
    fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest as _;
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }

    fn finish(self) -> (u64, ContentHash) {
        use sha2::Digest as _;
        let digest: [u8; 32] = self.hasher.finalize().into();
        (self.size, hex::encode(digest).parse().unwrap())
    }
}
