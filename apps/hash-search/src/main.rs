//! Real CPU work, like a vanity-address search: `hash-search <prefix> <difficulty-bits>` finds the
//! smallest nonce whose `sha256(prefix || decimal(nonce))` starts with `difficulty-bits` zero bits
//! and writes it to `/out/result.json`. Difficulty 20 takes about a million hashes.

mod search;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefix = args
        .first()
        .cloned()
        .unwrap_or_else(|| "decloud".to_string());
    let difficulty = match args.get(1).map(|d| d.parse::<u32>()) {
        None => 16,
        Some(Ok(d)) if d <= 64 => d,
        Some(_) => {
            eprintln!("hash-search: the difficulty must be a number of bits from 0 to 64");
            return ExitCode::from(2);
        }
    };
    let Some((nonce, hash)) = search::search(prefix.as_bytes(), difficulty, u64::MAX) else {
        eprintln!("hash-search: no nonce found");
        return ExitCode::from(1);
    };
    let hash: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    println!("prefix {prefix:?}, difficulty {difficulty}: nonce {nonce}, sha256 {hash}");
    let json = format!(
        "{{\"prefix\":{prefix:?},\"difficulty\":{difficulty},\"nonce\":{nonce},\"sha256\":\"{hash}\"}}\n"
    );
    app_output::publish("result.json", json);
    ExitCode::SUCCESS
}
