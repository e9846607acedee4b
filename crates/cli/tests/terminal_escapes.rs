//! Text from the network reaches the terminal inert: a resource name planted on chain and a
//! service's error body, both carrying a screen clear, a window title and a fake coloured line,
//! are printed with their control characters escaped, by the human output and by `--json`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use decloud_testkit::Devnet;
use decloud_testkit::fixtures;

/// Clears the screen, retitles the window, and forges a green success line on a new line.
const HOSTILE: &str = "evil\x1b[2J\x1b]0;pwned\x07\n\x1b[32m✓ certified and paid\x1b[0m\t\u{9b}1m";

/// What the terminal sees instead: the same text, every control escaped.
const SHOWN: &str =
    "evil\\x1b[2J\\x1b]0;pwned\\x07\\n\\x1b[32m✓ certified and paid\\x1b[0m\\t\\x9b1m";

fn decloud(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(args)
        .env("DECLOUD_HOME", home)
        .env_remove("DECLOUD_RPC")
        .env_remove("DECLOUD_MARKET")
        .output()
        .expect("the decloud binary runs")
}

/// No byte a terminal would act on: C0 but the line ends, DEL, C1.
fn assert_inert(what: &str, text: &str) {
    let control = text
        .chars()
        .find(|&c| (c.is_control() && c != '\n') || ('\u{80}'..='\u{9f}').contains(&c));
    assert_eq!(
        control, None,
        "{what} holds a raw control character: {text:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_resource_name_is_printed_escaped() {
    let devnet = Devnet::start().await.unwrap();
    let app = fixtures::register_order_app(&devnet, 1, HOSTILE)
        .await
        .unwrap();
    let app = app.to_string();

    let show = fixtures::succeeded(&decloud(devnet.home(), &["app", "show", &app])).unwrap();
    assert_inert("app show", &show);
    assert!(show.contains(&format!("name         {SHOWN}\n")), "{show}");
    assert!(
        show.contains(&format!("uri          file://{SHOWN}.wasm\n")),
        "{show}"
    );

    let list = fixtures::succeeded(&decloud(devnet.home(), &["app", "list", "--all"])).unwrap();
    assert_inert("app list", &list);
    assert!(list.contains(SHOWN), "{list}");

    let json =
        fixtures::succeeded(&decloud(devnet.home(), &["app", "show", &app, "--json"])).unwrap();
    assert_inert("app show --json", &json);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["name"], HOSTILE, "JSON keeps the exact text, escaped");
}

#[test]
fn a_hostile_error_body_from_a_service_is_printed_escaped() {
    // A "market" that refuses everything with a hostile message.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let body = serde_json::json!({ "error": HOSTILE }).to_string();
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).unwrap();
    });
    let home = tempfile::tempdir().unwrap();
    let out = decloud(
        home.path(),
        &["orderbook", "app", "--market", &format!("http://{addr}")],
    );
    server.join().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_inert("the error line", &stderr);
    assert!(stderr.contains(SHOWN), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}
