//! Headless Chromium (Debian's `chromium`, installed by `scripts/bootstrap`) driven from the
//! tests: `--dump-dom` for the rendered page, `--screenshot` for pictures, and a minimal
//! DevTools-protocol client over a websocket to watch a page change without reloading.

#![allow(dead_code, unreachable_pub)]

pub mod synth;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// The Chromium binary, or a panic that says how to install it.
pub fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!("Chromium is not installed: run scripts/bootstrap (it installs Debian's chromium)");
}

fn command(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null())
    .kill_on_drop(true);
    c
}

/// The DOM of `url` once loaded and its scripts ran (what a person sees, as HTML).
///
/// A Chromium that has not answered in 90 s is killed and started once more with a fresh
/// profile: on a loaded 2-core machine a headless start now and then hangs before it loads
/// anything (seen once in a full test run), which says nothing about the page; a page that does
/// not render fails both times.
pub async fn dump_dom(url: &str) -> String {
    for _ in 0..2 {
        let profile = tempfile::tempdir().unwrap();
        let run = tokio::time::timeout(
            Duration::from_secs(90),
            command(profile.path())
                .args(["--dump-dom", url])
                .stderr(Stdio::null())
                .output(),
        )
        .await;
        let Ok(out) = run else { continue };
        let out = out.unwrap();
        assert!(out.status.success(), "chromium failed on {url}");
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    panic!("chromium did not render {url} in 90 s, twice")
}

/// A PNG of `url` at `width`×`height` written to `path`.
pub async fn screenshot(url: &str, path: &Path, width: u32, height: u32) {
    let profile = tempfile::tempdir().unwrap();
    let status = tokio::time::timeout(
        Duration::from_secs(90),
        command(profile.path())
            .arg(format!("--screenshot={}", path.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status(),
    )
    .await
    .unwrap_or_else(|_| panic!("chromium did not take a screenshot of {url} in 90 s"))
    .unwrap();
    assert!(
        status.success(),
        "chromium failed to take {}",
        path.display()
    );
}

/// A browser with one page open, driven over the DevTools protocol.
pub struct Browser {
    _child: Child,
    _profile: tempfile::TempDir,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium with its DevTools endpoint and opens `url` in a page.
    pub async fn open(url: &str) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = command(profile.path())
            .args(["--remote-debugging-port=0", "about:blank"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(ws) = line.strip_prefix("DevTools listening on ") {
                    return ws.trim().to_owned();
                }
            }
            panic!("chromium exited without a DevTools endpoint");
        })
        .await
        .expect("chromium did not open its DevTools endpoint in 60 s");
        // Keep reading stderr so that Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = endpoint
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_owned();
        let target: Value = reqwest::Client::new()
            .put(format!("http://{http}/json/new?{url}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = target["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(page.as_str())
            .await
            .unwrap();
        Self {
            _child: child,
            _profile: profile,
            socket,
            next_id: 1,
        }
    }

    /// The value of a JavaScript expression in the page.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true },
        });
        self.socket
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        while let Some(message) = self.socket.next().await {
            let Message::Text(text) = message.unwrap() else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == json!(id) {
                return answer["result"]["result"]["value"].clone();
            }
        }
        panic!("the browser closed the DevTools connection");
    }

    /// Evaluates `expression` every 200 ms until it is `true`, for at most `timeout`.
    pub async fn until(&mut self, expression: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.eval(expression).await == json!(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}
