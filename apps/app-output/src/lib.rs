//! The last step of every decloud app: write the result file under the output directory and
//! name it in `computed.json` as the deterministic output the workers hash and vote on.
//!
//! The sandbox mounts the output directory at `/out`; `$DECLOUD_OUT` overrides it so an app can
//! also run natively (tests, debugging). `computed.json` always names the path as the sandbox
//! sees it (`/out/<file>`). A failed write panics: inside the sandbox that ends the task with a
//! reason, which is all an app can do about a full or missing `/out`.

use std::fs;

/// The output directory: `$DECLOUD_OUT`, or `/out` (the sandbox's).
pub fn out_dir() -> String {
    std::env::var("DECLOUD_OUT").unwrap_or_else(|_| "/out".to_string())
}

/// Writes `contents` to `/out/<file>` and a `computed.json` naming it as the task's
/// deterministic output.
pub fn publish(file: &str, contents: impl AsRef<[u8]>) {
    publish_with(file, contents, "");
}

/// Like [`publish`], and hands `callback_data` (ABI-encoded bytes) to the deal's callback
/// contract: the result digest then becomes `keccak256(callback_data)`.
pub fn publish_with_callback(file: &str, contents: impl AsRef<[u8]>, callback_data: &[u8]) {
    let hex: String = callback_data.iter().map(|b| format!("{b:02x}")).collect();
    publish_with(file, contents, &format!(r#","callback-data":"0x{hex}""#));
}

fn publish_with(file: &str, contents: impl AsRef<[u8]>, extra: &str) {
    let out = out_dir();
    fs::write(format!("{out}/{file}"), contents)
        .unwrap_or_else(|e| panic!("write /out/{file}: {e}"));
    let computed = format!(r#"{{"deterministic-output-path":"/out/{file}"{extra}}}"#);
    fs::write(format!("{out}/computed.json"), computed)
        .unwrap_or_else(|e| panic!("write /out/computed.json: {e}"));
}
