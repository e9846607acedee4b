//! What every benchmark shares: the machine it ran on, percentiles, and the generated sections of
//! `bench/README.md` (each benchmark rewrites the text between its own markers, and the summary
//! table is rebuilt from the `<!-- summary: ... -->` lines every section carries).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The machine and the code a figure was measured on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Logical cores the process may use.
    pub cores: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu: String,
    /// UTC date and time of the measurement.
    pub date: String,
    /// Short commit hash, with a note when the working tree differs from it.
    pub commit: String,
    /// The 1-minute load average when the benchmark started (the machine may be shared).
    pub load: String,
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Machine {
    /// Reads the machine's description now.
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
            .unwrap_or_else(|| "unknown date".into());
        let mut commit =
            command_output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
        if command_output("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty())
        {
            commit.push_str(" + uncommitted changes");
        }
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "?".into());
        Self {
            cores,
            cpu,
            date,
            commit,
            load,
        }
    }

    /// One line for a table's caption.
    pub fn line(&self) -> String {
        format!(
            "{} cores ({}), {}, commit {}, load average {} at start",
            self.cores, self.cpu, self.date, self.commit, self.load
        )
    }
}

/// The repository's root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A wasm module built by `scripts/build-apps`.
pub fn app_module(name: &str) -> anyhow::Result<Vec<u8>> {
    let path = repo_root()
        .join("apps/target/wasm32-wasip1/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).with_context(|| {
        format!(
            "{} is missing: run scripts/bootstrap (or scripts/build-apps) first",
            path.display()
        )
    })
}

/// An environment variable parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Percentiles of a sample (nearest rank).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
    /// Smallest.
    pub min: Duration,
}

impl Stats {
    /// The statistics of `samples` (all zero when empty).
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut v = samples.to_vec();
        v.sort();
        let rank = |p: f64| {
            let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[i - 1]
        };
        Self {
            n: v.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: v[v.len() - 1],
            min: v[0],
        }
    }
}

/// Milliseconds with a precision that suits the value.
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `met` or `NOT met`.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**NOT met**" }
}

/// A row of the README's summary table: what, measured, target, verdict.
pub fn summary_line(what: &str, measured: &str, target: &str, status: &str) -> String {
    format!("<!-- summary: {what} | {measured} | {target} | {status} -->")
}

/// `bench/README.md`.
pub fn readme_path() -> PathBuf {
    repo_root().join("bench/README.md")
}

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- bench:{name}:begin (generated by scripts/bench: do not edit) -->"),
        format!("<!-- bench:{name}:end -->"),
    )
}

/// Replaces the generated section `name` of `bench/README.md` with `body`, then rebuilds the
/// summary table from every section's summary lines. Does nothing when `BENCH_README=0`.
pub fn write_section(name: &str, body: &str) -> anyhow::Result<()> {
    if std::env::var("BENCH_README").is_ok_and(|v| v == "0") {
        println!("(BENCH_README=0: bench/README.md left as it is)");
        return Ok(());
    }
    let path = readme_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let text = replace_section(&text, name, body)?;
    let summary = summary_table(&text);
    let text = replace_section(&text, "summary", &summary)?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("bench/README.md: section {name} rewritten");
    Ok(())
}

fn replace_section(text: &str, name: &str, body: &str) -> anyhow::Result<String> {
    let (begin, end) = markers(name);
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        bail!("bench/README.md lacks the markers of section {name}: {begin} ... {end}");
    };
    if e < b {
        bail!("bench/README.md: the end marker of section {name} comes before its start");
    }
    let mut out = String::with_capacity(text.len() + body.len());
    out.push_str(&text[..b + begin.len()]);
    out.push('\n');
    out.push_str(body.trim_end());
    out.push('\n');
    out.push_str(&text[e..]);
    Ok(out)
}

fn summary_table(text: &str) -> String {
    let mut rows = Vec::new();
    let (summary_begin, summary_end) = markers("summary");
    // Summary lines of the summary section itself are skipped.
    let outside = match (text.find(&summary_begin), text.find(&summary_end)) {
        (Some(b), Some(e)) if b < e => format!("{}{}", &text[..b], &text[e..]),
        _ => text.to_owned(),
    };
    for line in outside.lines() {
        if let Some(rest) = line.trim().strip_prefix("<!-- summary: ")
            && let Some(row) = rest.strip_suffix(" -->")
        {
            rows.push(format!("| {row} |"));
        }
    }
    let mut out = String::from("| figure | measured | target | status |\n|---|---:|---:|---|\n");
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// CPU time (user + system) a process used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from the closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = 100.0; // USER_HZ on Linux
    Some(Duration::from_secs_f64((utime + stime) as f64 / ticks))
}

/// CPU time of this process's threads whose name starts with `prefix`.
pub fn threads_cpu_time(prefix: &str) -> Duration {
    let mut total = Duration::ZERO;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return total;
    };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / 100.0);
    }
    total
}

/// The pid of this process's `anvil` child (the devnet), if any.
pub fn anvil_pid() -> Option<u32> {
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 2..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm == "anvil" && ppid == Some(me) {
            return Some(pid);
        }
    }
    None
}

/// CPU used by this process and by the devnet's anvil between two points.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuMeter {
    anvil: Option<u32>,
    start_self: Duration,
    start_anvil: Duration,
}

/// CPU seconds used during a measurement.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    /// This process (scheduler, workers, sandbox, storage node, the benchmark's own polling).
    pub bench: Duration,
    /// The anvil process.
    pub anvil: Duration,
}

impl CpuMeter {
    /// Starts measuring.
    pub fn start() -> Self {
        let anvil = anvil_pid();
        Self {
            anvil,
            start_self: cpu_time(std::process::id()).unwrap_or_default(),
            start_anvil: anvil.and_then(cpu_time).unwrap_or_default(),
        }
    }

    /// CPU used since [`CpuMeter::start`].
    pub fn read(&self) -> CpuUse {
        CpuUse {
            bench: cpu_time(std::process::id())
                .unwrap_or_default()
                .saturating_sub(self.start_self),
            anvil: self
                .anvil
                .and_then(cpu_time)
                .unwrap_or_default()
                .saturating_sub(self.start_anvil),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Stats::of(&v);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(Stats::of(&[]).n, 0);
    }

    #[test]
    fn sections_are_replaced_between_their_markers_and_summarized() {
        let (b, e) = markers("x");
        let (sb, se) = markers("summary");
        let text = format!("intro\n{sb}\nold\n{se}\nprose\n{b}\nold\n{e}\nend\n");
        let body = format!("table\n{}", summary_line("a", "1", "2", "met"));
        let text = replace_section(&text, "x", &body).unwrap();
        assert!(text.contains("table") && !text.contains("\nold\n{e}"));
        let text = replace_section(&text, "summary", &summary_table(&text)).unwrap();
        assert!(text.contains("| a | 1 | 2 | met |"), "{text}");
        assert!(text.starts_with("intro\n") && text.ends_with("end\n"));
        assert!(replace_section("none", "x", "y").is_err());
    }
}
