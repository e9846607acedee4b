//! Counting the JSON-RPC calls and transactions anvil served, from its log: anvil (not
//! `--silent`) writes every method name on a line of its own and every mined transaction as an
//! indented `Transaction: 0x...` line. The devnet's log is `Devnet::home()/anvil.log`.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

/// A position in anvil's log.
pub struct LogMark {
    path: PathBuf,
    offset: u64,
}

/// What anvil served between two marks.
#[derive(Clone, Debug, Default)]
pub struct RpcCounts {
    /// Calls by method.
    pub methods: BTreeMap<String, u64>,
    /// Transactions mined.
    pub transactions: u64,
}

impl RpcCounts {
    /// Every call.
    pub fn total(&self) -> u64 {
        self.methods.values().sum()
    }

    /// These counts less `n` calls of `method` the benchmark made itself (its own polls), so
    /// that only the system measured is counted.
    pub fn without(mut self, method: &str, n: u64) -> Self {
        if let Some(c) = self.methods.get_mut(method) {
            *c = c.saturating_sub(n);
        }
        self
    }

    /// The busiest methods, most called first, as `name count` (per `per` units).
    pub fn top(&self, n: usize, per: f64) -> String {
        let mut v: Vec<(&String, &u64)> = self.methods.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .take(n)
            .map(|(m, c)| format!("{m} {:.1}", **c as f64 / per))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl LogMark {
    /// The current end of the log at `path`.
    pub fn now(path: &Path) -> Self {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self {
            path: path.to_path_buf(),
            offset,
        }
    }

    /// What was logged since this mark.
    pub fn counts(&self) -> RpcCounts {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.path)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let _ = f.read_to_string(&mut text);
        }
        parse(&text)
    }
}

fn parse(text: &str) -> RpcCounts {
    let mut counts = RpcCounts::default();
    // anvil serves `eth_sendRawTransactionSync` through its `eth_sendRawTransaction` and logs
    // both names for the one request: the inner one is not a call of its own.
    let mut inner_sends = 0u64;
    for line in text.lines() {
        if line.trim_start().starts_with("Transaction: 0x") {
            counts.transactions += 1;
        } else if !line.starts_with(' ')
            && line.contains('_')
            && line.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            match line {
                "eth_sendRawTransactionSync" => inner_sends += 1,
                "eth_sendRawTransaction" if inner_sends > 0 => {
                    inner_sends -= 1;
                    continue;
                }
                _ => {}
            }
            *counts.methods.entry(line.to_owned()).or_default() += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_transactions_are_counted() {
        let log = "Listening on 127.0.0.1:1\neth_chainId\neth_call\neth_call\neth_sendRawTransaction\n\n    Transaction: 0x37ea\n    Gas used: 21000\n\n    Block Number: 1\neth_getTransactionReceipt\n";
        let c = parse(log);
        assert_eq!(c.methods["eth_call"], 2);
        assert_eq!(c.transactions, 1);
        assert_eq!(c.total(), 5);
        assert!(c.top(1, 1.0).starts_with("eth_call 2.0"));
    }

    #[test]
    fn a_sync_send_counts_once_though_anvil_logs_its_inner_send() {
        let log = "eth_sendRawTransactionSync\neth_blockNumber\neth_sendRawTransaction\n\n    Transaction: 0x01\neth_sendRawTransaction\n";
        let c = parse(log);
        assert_eq!(c.methods["eth_sendRawTransactionSync"], 1);
        assert_eq!(
            c.methods["eth_sendRawTransaction"], 1,
            "the plain send after it counts"
        );
        assert_eq!(c.total(), 3);
    }

    #[test]
    fn the_benchmarks_own_calls_are_taken_out() {
        let c = parse("eth_getLogs\neth_getLogs\neth_getLogs\neth_call\n");
        let c = c.without("eth_getLogs", 2).without("eth_chainId", 5);
        assert_eq!(c.methods["eth_getLogs"], 1);
        assert_eq!(c.total(), 2, "a method never called stays absent");
        assert_eq!(c.without("eth_call", 9).methods["eth_call"], 0);
    }
}
