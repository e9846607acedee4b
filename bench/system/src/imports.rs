//! Figures measured elsewhere, put in `bench/README.md`'s tables: the runtime benchmark's
//! output (`cargo bench -p decloud-bench-runtime`, captured by `scripts/bench` into a file named
//! by `BENCH_RUNTIME_OUTPUT`) and the per-task totals of `contracts/gas-report.md`.

use anyhow::{Context as _, bail};

use crate::report::{self, Machine, repo_root, summary_line, verdict};

/// The first number on the line of the runtime benchmark's output that starts with `label`.
fn figure(text: &str, label: &str) -> anyhow::Result<f64> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .with_context(|| format!("the runtime benchmark's output has no line {label:?}"))?;
    let rest = &line.trim_start()[label.len()..];
    rest.split_whitespace()
        .find_map(|w| w.trim_end_matches('x').parse::<f64>().ok())
        .with_context(|| format!("no number on the line {line:?}"))
}

/// Writes the runtime section from the runtime benchmark's output in `BENCH_RUNTIME_OUTPUT`.
pub fn runtime() -> anyhow::Result<()> {
    let path = std::env::var("BENCH_RUNTIME_OUTPUT")
        .context("set BENCH_RUNTIME_OUTPUT to a file holding `cargo bench -p decloud-bench-runtime`'s output (scripts/bench does)")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let machine = Machine::detect();
    let native = figure(&text, "native")?;
    let wasm = figure(&text, "wasm (sandbox")?;
    let ratio = figure(&text, "ratio wasm/native")?;
    let compile = figure(&text, "first compile")?;
    let load = figure(&text, "load from disk cache")?;
    let inst = figure(&text, "instantiate + run")?;
    let total = figure(&text, "total")?;
    let heading = text
        .lines()
        .find(|l| l.starts_with("runtime benchmark"))
        .unwrap_or("runtime benchmark")
        .trim();
    let (ratio_met, inst_met) = (ratio <= 1.3, total <= 5.0);
    println!(
        "runtime: wasm/native {ratio:.2}× (target ≤ 1.30×), instantiation {total:.3} ms (target ≤ 5 ms)"
    );
    let body = format!(
        "Measured on {} by `cargo bench -p decloud-bench-runtime` ({heading}).\n\n\
         | figure | measured | target | status |\n|---|---:|---:|---|\n\
         | hash-search natively | {native:.1} ms | | |\n\
         | hash-search as wasm in the worker's sandbox (fuel + epoch) | {wasm:.1} ms | | |\n\
         | wasm / native | {ratio:.2}× | ≤ 1.30× | {} |\n\
         | first compile of hash-search (cranelift) | {compile:.1} ms | | |\n\
         | greeting: load from the disk cache | {load:.3} ms | | |\n\
         | greeting: instantiate + run `_start` | {inst:.3} ms | | |\n\
         | greeting: load + instantiate + run (median of 50) | {total:.3} ms | ≤ 5 ms | {} |\n\n{}\n{}\n",
        machine.line(),
        verdict(ratio_met),
        verdict(inst_met),
        summary_line(
            "Runtime: wasm / native (hash-search)",
            &format!("{ratio:.2}×"),
            "≤ 1.30×",
            verdict(ratio_met)
        ),
        summary_line(
            "Runtime: instantiation from the compiled cache",
            &format!("{total:.3} ms"),
            "≤ 5 ms",
            verdict(inst_met)
        ),
    );
    report::write_section("runtime", &body)
}

/// Writes the gas section from the summary table of `contracts/gas-report.md`.
pub fn gas() -> anyhow::Result<()> {
    let path = repo_root().join("contracts/gas-report.md");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (run scripts/gas-report)", path.display()))?;
    let summary = text
        .split("## Summary")
        .nth(1)
        .context("contracts/gas-report.md has no Summary section")?;
    let rows: Vec<Vec<String>> = summary
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    if rows.is_empty() {
        bail!("contracts/gas-report.md's Summary table is empty");
    }
    let when = std::process::Command::new("git")
        .args([
            "log",
            "-1",
            "--format=%h, %cd",
            "--date=format:%Y-%m-%d",
            "--",
            "contracts/gas-report.md",
        ])
        .current_dir(repo_root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "not committed".into());
    let mut table = String::from(
        "| flow | gas per task | target | iExec reference | status |\n|---|---:|---:|---:|---|\n",
    );
    let mut summaries = Vec::new();
    for row in &rows {
        let [flow, per_task, target, iexec, status] = &row[..] else {
            continue;
        };
        let status = if status.eq_ignore_ascii_case("NOT met") {
            "**NOT met**".to_owned()
        } else {
            status.clone()
        };
        table.push_str(&format!(
            "| {flow} | {per_task} | {target} | {iexec} | {status} |\n"
        ));
        if [
            "trust1",
            "trust1-direct",
            "replicated",
            "replicated-noinit",
            "tee",
            "batch100",
            "batch100-direct",
            "batch100-batched10",
            "batch100-batched100",
        ]
        .contains(&flow.as_str())
        {
            summaries.push(summary_line(
                &format!("Gas per task, {flow}"),
                per_task,
                target,
                &status,
            ));
        }
    }
    println!(
        "gas: {} flows quoted from contracts/gas-report.md",
        rows.len()
    );
    let body = format!(
        "Quoted from [contracts/gas-report.md](../contracts/gas-report.md) (last committed: {when}), which \
         `scripts/gas-report` regenerates from real transaction receipts; its targets are the ones written there.\n\n\
         {table}\n{}\n",
        summaries.join("\n")
    );
    report::write_section("gas", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_output_lines_are_read() {
        let text = "  ratio wasm/native                 1.12x   (target <= 1.30x)\n  total      0.812 ms   (target <= 5 ms)\n";
        assert_eq!(figure(text, "ratio wasm/native").unwrap(), 1.12);
        assert_eq!(figure(text, "total").unwrap(), 0.812);
        assert!(figure(text, "native").is_err());
    }
}
