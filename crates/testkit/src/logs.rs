//! Every log line of a test process, kept in memory so that a test can scan them for a secret's
//! bytes (`DECLOUD_TEST_ECHO_LOGS=1` also writes them to stderr).

use std::sync::{Arc, Mutex};

/// The captured lines (shared by every writer the subscriber makes).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Everything logged so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Everything logged so far as text, without the terminal colours the formatter adds.
    pub fn text(&self) -> String {
        plain(&self.bytes())
    }

    /// Whether anything logged so far contains `needle`.
    pub fn contain(&self, needle: &[u8]) -> bool {
        contains(&self.bytes(), needle)
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut kept) = self.0.lock() {
            kept.extend_from_slice(buf);
        }
        if std::env::var_os("DECLOUD_TEST_ECHO_LOGS").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a debug-level subscriber writing into the returned [`Logs`] (the first call of the
/// process wins: call it at the start of the test).
pub fn capture() -> Logs {
    capture_with("debug")
}

/// [`capture`] with a tracing filter of its own (e.g. `info` to keep logging as cheap as a
/// production node's while a benchmark measures).
pub fn capture_with(filter: &str) -> Logs {
    let logs = Logs::default();
    let writer = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .try_init();
    logs
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Captured log bytes as text, without the terminal colours (`ESC [ ... m`) the formatter adds.
pub fn plain(logs: &[u8]) -> String {
    let text = String::from_utf8_lossy(logs);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
