//! {{name}}: a decloud app in Rust, built for wasm32-wasip1.
//!
//! The sandbox gives the app `/in` (read-only: the dataset and the input files, named by
//! DECLOUD_DATASET_FILENAME and DECLOUD_INPUT_FILE_NAME_<n>), `/out` (writable: the result, and
//! computed.json saying which part of it replicas vote on), `/app` (read-only: the bundle's
//! files) and the request's params.args as arguments. Time is fixed, random numbers are seeded
//! by the task, and there is no network: the same inputs give the same bytes on every worker.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = std::env::var("DECLOUD_IN").unwrap_or_else(|_| "/in".into());
    let out = std::env::var("DECLOUD_OUT").unwrap_or_else(|_| "/out".into());
    let mut result = format!("args: {}\n", args.join(" "));
    if let Ok(name) = std::env::var("DECLOUD_DATASET_FILENAME") {
        match std::fs::read(format!("{input}/{name}")) {
            Ok(bytes) => {
                let lines = bytes.iter().filter(|b| **b == b'\n').count();
                result.push_str(&format!("dataset: {name}, {} bytes, {lines} lines\n", bytes.len()));
            }
            Err(e) => {
                // A non-zero exit is a deterministic failure: every replica agrees on it.
                eprintln!("cannot read the dataset {name}: {e}");
                std::process::exit(2);
            }
        }
    }
    std::fs::write(format!("{out}/result.txt"), &result).expect("write /out/result.txt");
    let mut computed = std::fs::File::create(format!("{out}/computed.json")).expect("computed.json");
    writeln!(computed, r#"{{"deterministic-output-path":"/out/result.txt"}}"#).expect("computed.json");
    print!("{result}");
}
