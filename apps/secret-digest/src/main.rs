//! A TEE example: `secret-digest NAME...` reads each of the requester's named secrets from
//! `/secrets/NAME` (read-only files the TEE worker mounts) and publishes, per secret, its length
//! and its sha256, never the value, to `/out/result.txt`. It also records whether `/secrets`
//! refused a write. A missing secret is a deterministic failure (exit 1).

#[path = "../../hash-search/src/search.rs"]
#[allow(dead_code)]
mod search;

use std::fmt::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        eprintln!("secret-digest: name the secrets to digest, e.g. `secret-digest api-token`");
        return ExitCode::from(2);
    }
    let mut out = String::new();
    for name in &names {
        let path = format!("/secrets/{name}");
        let value = match std::fs::read(&path) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("secret-digest: cannot read {path}: {e}");
                return ExitCode::from(1);
            }
        };
        let hash: String = search::sha256(&value)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        writeln!(out, "{name} bytes={} sha256={hash}", value.len()).unwrap();
    }
    let write_refused = std::fs::write("/secrets/planted", b"x").is_err();
    writeln!(out, "secrets_read_only={write_refused}").unwrap();
    app_output::publish("result.txt", out);
    ExitCode::SUCCESS
}
