//! Statistics over a CSV dataset read from `/in`: for every column whose values are all numbers,
//! the count, min, max, mean and (population) standard deviation, into `/out/stats.json`.
//!
//! The file is `$DECLOUD_IN/$DECLOUD_DATASET_FILENAME`, or `/in/<first argument>`. The first line
//! is the header. Plain comma-separated values, no quoting.

use std::fs;
use std::process::ExitCode;

struct Column {
    name: String,
    numeric: bool,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

fn main() -> ExitCode {
    let dir = std::env::var("DECLOUD_IN").unwrap_or_else(|_| "/in".to_string());
    let name = std::env::var("DECLOUD_DATASET_FILENAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::env::args().nth(1));
    let Some(name) = name else {
        eprintln!("csv-stats: no dataset: run with a dataset, or pass the CSV file name in /in");
        return ExitCode::from(2);
    };
    let text = match fs::read_to_string(format!("{dir}/{name}")) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("csv-stats: cannot read {dir}/{name}: {err}");
            return ExitCode::from(2);
        }
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        eprintln!("csv-stats: {name} is empty; it needs a header line");
        return ExitCode::from(2);
    };
    let mut columns: Vec<Column> = header
        .split(',')
        .map(|n| Column {
            name: n.trim().to_string(),
            numeric: true,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            sum_sq: 0.0,
        })
        .collect();
    let mut rows = 0u64;
    for line in lines {
        rows += 1;
        for (column, field) in columns.iter_mut().zip(line.split(',')) {
            match field.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && column.numeric => {
                    column.count += 1;
                    column.min = column.min.min(v);
                    column.max = column.max.max(v);
                    column.sum += v;
                    column.sum_sq += v * v;
                }
                _ => column.numeric = false,
            }
        }
    }
    let mut json = format!("{{\"rows\":{rows},\"columns\":{{");
    let mut first = true;
    for c in columns.iter().filter(|c| c.numeric && c.count > 0) {
        let n = c.count as f64;
        let mean = c.sum / n;
        let std_dev = (c.sum_sq / n - mean * mean).max(0.0).sqrt();
        if !first {
            json.push(',');
        }
        first = false;
        json.push_str(&format!(
            "{:?}:{{\"count\":{},\"min\":{},\"max\":{},\"mean\":{},\"std_dev\":{}}}",
            c.name, c.count, c.min, c.max, mean, std_dev
        ));
    }
    json.push_str("}}\n");
    print!("{json}");
    app_output::publish("stats.json", json);
    ExitCode::SUCCESS
}
