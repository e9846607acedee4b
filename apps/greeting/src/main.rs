//! Greets its arguments: `Hello, Alice Bob!` into `/out/result.txt`.

use std::fs;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let who = if args.is_empty() {
        "world".to_string()
    } else {
        args.join(" ")
    };
    let greeting = format!("Hello, {who}!\n");
    print!("{greeting}");
    let out = std::env::var("DECLOUD_OUT").unwrap_or_else(|_| "/out".to_string());
    fs::write(format!("{out}/result.txt"), greeting).expect("write /out/result.txt");
    fs::write(
        format!("{out}/computed.json"),
        r#"{"deterministic-output-path":"/out/result.txt"}"#,
    )
    .expect("write /out/computed.json");
}
