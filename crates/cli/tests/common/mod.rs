//! What the CLI's integration tests share: the `decloud` binary run as a user runs it.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alloy::primitives::Address;
use decloud_testkit::fixtures::{json_output, succeeded};
use serde_json::Value;

/// The password of the wallets the tests import.
pub(crate) const PASSWORD: &str = "correct horse";

/// `decloud` in a work directory of its own (for `decloud.toml` and `orders.json`), with a
/// `$DECLOUD_HOME`, the wallet password and the services it talks to; nothing of the
/// environment the tests run in leaks into it.
pub(crate) struct Cli {
    home: PathBuf,
    work: tempfile::TempDir,
    /// The market's URL.
    pub(crate) market: String,
    /// The scheduler's URL, when the test runs one.
    pub(crate) scheduler: Option<String>,
}

impl Cli {
    /// `decloud` with home `home`, talking to the market at `market`.
    pub(crate) fn new(home: &Path, market: &str) -> Cli {
        Cli {
            home: home.to_path_buf(),
            work: tempfile::tempdir().unwrap(),
            market: market.to_string(),
            scheduler: None,
        }
    }

    /// The work directory.
    pub(crate) fn work(&self) -> &Path {
        self.work.path()
    }

    /// A file of the work directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `decloud args...`, ready to run.
    pub(crate) fn command<S: AsRef<str>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_decloud"));
        command
            .args(args.iter().map(AsRef::as_ref))
            .current_dir(self.work.path())
            .env("DECLOUD_HOME", &self.home)
            .env("DECLOUD_WALLET_PASSWORD", PASSWORD)
            .env("DECLOUD_MARKET", &self.market)
            .env_remove("DECLOUD_WALLET")
            .env_remove("DECLOUD_RPC");
        if let Some(scheduler) = &self.scheduler {
            command.env("DECLOUD_SCHEDULER", scheduler);
        }
        command
    }

    /// Runs `decloud args...`.
    pub(crate) fn run<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.command(args)
            .output()
            .expect("the decloud binary runs")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub(crate) fn ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        succeeded(&self.run(args)).unwrap_or_else(|e| panic!("decloud {}: {e}", line(args)))
    }

    /// Runs a command with `--json` that must succeed; returns its output parsed.
    pub(crate) fn json<S: AsRef<str>>(&self, args: &[S]) -> Value {
        let mut args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        args.push("--json");
        json_output(&self.run(&args)).unwrap_or_else(|e| panic!("decloud {}: {e}", line(&args)))
    }

    /// Runs a command that must fail with a one-line message; returns the message.
    pub(crate) fn fails<S: AsRef<str>>(&self, args: &[S]) -> String {
        one_line_failure(&self.run(args), args)
    }

    /// Imports development account `index` as wallet `name`; returns its address.
    pub(crate) fn import(&self, name: &str, index: usize) -> Address {
        let key = decloud_chain::accounts::DEV_PRIVATE_KEYS[index].to_string();
        self.ok(&["wallet", "import", "--name", name, &key]);
        decloud_chain::accounts::dev_signer(index).address()
    }

    /// Replaces `from` by `to` in the work directory's decloud.toml.
    pub(crate) fn edit_template(&self, from: &str, to: &str) {
        let path = self.file("decloud.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in {text}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

/// The one-line message of `decloud args...` that must have failed.
pub(crate) fn one_line_failure<S: AsRef<str>>(out: &Output, args: &[S]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(
        !out.status.success(),
        "decloud {} should fail; stdout: {}",
        line(args),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    err
}

/// The arguments as they would be typed.
fn line<S: AsRef<str>>(args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    args.join(" ")
}
