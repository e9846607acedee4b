//! The storage node against clients that misbehave: web pages of other sites, connections that
//! stall, bodies that do not match their name, blobs damaged on disk. Raw HTTP over TCP, so
//! that the test controls every byte and sees when the server closes the connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use decloud_service::Limits;
use decloud_storage::{BlobStore, ContentHash, ServerConfig, StorageConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A guard against a hung test only: every wait below ends long before it when the server
/// behaves.
const GUARD: Duration = Duration::from_secs(60);

/// A storage node over a fresh directory, with these limits, over plain HTTP: these tests
/// write raw requests on a socket to see what the server does with them (TLS adds nothing to
/// the limits under test and is tested on its own).
async fn node(limits: Limits) -> (tempfile::TempDir, decloud_storage::RunningStorage) {
    let dir = tempfile::tempdir().unwrap();
    let node = decloud_storage::start(StorageConfig {
        transport: decloud_service::transport::Transport::InsecureHttp,
        location: dir.path().display().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        server: ServerConfig {
            limits,
            ..ServerConfig::default()
        },
    })
    .await
    .unwrap();
    (dir, node)
}

/// A stall the server gives up on quickly.
const SHORT: Duration = Duration::from_secs(1);

/// A wait the test never reaches.
const LONG: Duration = Duration::from_secs(300);

/// The default limits with these header and body timeouts.
fn timeouts(header: Duration, body: Duration) -> Limits {
    Limits {
        header_timeout: header,
        body_timeout: body,
        ..Limits::default()
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Sends `head` (without its blank line), then `body`, and reads until the server closes the
/// connection. Returns what was read.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream.write_all(body).await.unwrap();
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    answer
}

/// [`exchange`], asserting the answer's status `code`; returns the answer as text.
async fn expect(addr: SocketAddr, code: u16, head: &str, body: &[u8]) -> String {
    let answer = exchange(addr, head, body).await;
    let text = text(&answer);
    assert!(
        status(&answer).contains(&format!(" {code} ")),
        "{head}\n{text}"
    );
    text
}

fn status(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn text(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer).into_owned()
}

#[tokio::test]
async fn writes_from_another_origin_are_refused_and_store_nothing() {
    let (dir, node) = node(Limits::default()).await;
    let addr = node.addr();
    let hello = ContentHash::of(b"hello");

    // The "simple" cross-origin upload any web page can send without asking first.
    let evil = "Origin: http://evil.example\r\nContent-Type: text/plain";
    let refused = expect(addr, 403, &post(addr, evil), b"hello").await;
    assert!(refused.contains("cross-origin"), "{refused}");
    assert!(
        !refused
            .to_ascii_lowercase()
            .contains("access-control-allow"),
        "CORS stays off: {refused}"
    );
    // A browser that names the site instead of the origin.
    let put = format!(
        "PUT /blobs/{hello} HTTP/1.1\r\nHost: {addr}\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 5"
    );
    expect(addr, 403, &put, b"hello").await;
    // A page that rebinds its own name to 127.0.0.1 is same-origin to itself, but it does not
    // address a loopback name.
    let port = addr.port();
    let rebound = format!(
        "POST /blobs HTTP/1.1\r\nHost: evil.example:{port}\r\nOrigin: http://evil.example:{port}\r\nContent-Length: 5"
    );
    expect(addr, 403, &rebound, b"hello").await;
    assert_eq!(files(dir.path()), Vec::<PathBuf>::new(), "nothing stored");

    // The node's own origin, and programs (no Origin), may write.
    expect(
        addr,
        201,
        &post(addr, &format!("Origin: http://{addr}")),
        b"hello",
    )
    .await;
    let get = format!("GET /blobs/{hello} HTTP/1.1\r\nHost: {addr}");
    assert!(expect(addr, 200, &get, b"").await.ends_with("hello"));
}

/// The head of a 5-byte `POST /blobs` with `extra` headers.
fn post(addr: SocketAddr, extra: &str) -> String {
    format!("POST /blobs HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\nContent-Length: 5")
}

#[tokio::test]
async fn a_body_that_stalls_halfway_is_cut_off_and_nothing_is_stored() {
    let (dir, node) = node(timeouts(LONG, SHORT)).await;
    let addr = node.addr();
    for head in [
        format!("POST /blobs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000"),
        format!(
            "PUT /blobs/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000",
            ContentHash::of(&[7u8; 1000])
        ),
    ] {
        // Headers and half the body, then nothing (the connection stays open on our side).
        let answer = expect(addr, 408, &head, &[7u8; 500]).await;
        assert!(answer.contains("nothing was stored"), "{answer}");
    }
    assert_eq!(
        files(dir.path()),
        Vec::<PathBuf>::new(),
        "no part left behind"
    );
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_head_is_closed() {
    let (_dir, node) = node(timeouts(SHORT, LONG)).await;
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(!status(&answer).contains(" 200 "), "{}", text(&answer));

    // An idle kept-alive connection is closed the same way.
    let mut idle = TcpStream::connect(node.addr()).await.unwrap();
    let answer = read_to_close(&mut idle).await;
    assert!(answer.is_empty(), "{}", text(&answer));
}

/// Bytes that do not repeat within a part, so that a misplaced part changes the hash.
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn uploads_larger_than_a_part_stream_in_and_a_mismatch_leaves_nothing() {
    let blob = pattern(12 << 20);
    let id = ContentHash::of(&blob);
    let (dir, node) = node(Limits::default()).await;
    let addr = node.addr();

    // Under a name it does not hash to: refused, and its parts are gone.
    let wrong = ContentHash::of(b"something else");
    let put = format!(
        "PUT /blobs/{wrong} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}",
        blob.len()
    );
    let refused = expect(addr, 400, &put, &blob).await;
    assert!(refused.contains(&id.to_string()), "{refused}");
    assert_eq!(files(dir.path()), Vec::<PathBuf>::new());

    // By POST: stored under its hash, whole.
    let post = format!(
        "POST /blobs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}",
        blob.len()
    );
    let stored = expect(addr, 201, &post, &blob).await;
    assert!(stored.contains(&id.to_string()), "{stored}");
    assert_eq!(files(dir.path()), vec![dir.path().join(id.to_string())]);
    let remote = BlobStore::from_url(&node.url()).unwrap();
    assert_eq!(remote.get(&id, 1 << 30).await.unwrap(), Bytes::from(blob));
}

#[tokio::test]
async fn a_blob_damaged_on_disk_is_never_served_whole() {
    // Small: checked before the answer, refused with a status that says why.
    let (dir, node) = node(Limits::default()).await;
    let addr = node.addr();
    let small = ContentHash::of(b"small");
    std::fs::write(dir.path().join(small.to_string()), b"smalL").unwrap();
    let get = format!("GET /blobs/{small} HTTP/1.1\r\nHost: {addr}");
    let refused = expect(addr, 400, &get, b"").await;
    assert!(refused.contains("corrupt"), "{refused}");
    assert!(!refused.contains("smalL"), "{refused}");

    // Large: streamed, and cut short before its last chunk.
    let len = 12 << 20;
    let good = pattern(len);
    let id = ContentHash::of(&good);
    let mut bad = good.clone();
    bad[len - 1] ^= 1;
    std::fs::write(dir.path().join(id.to_string()), &bad).unwrap();

    let answer = exchange(
        addr,
        &format!("GET /blobs/{id} HTTP/1.1\r\nHost: {addr}"),
        b"",
    )
    .await;
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = text(&answer[..head_end]).to_ascii_lowercase();
    assert!(head.contains(&format!("content-length: {len}")), "{head}");
    let body = &answer[head_end..];
    assert!(
        body.len() < bad.len(),
        "the damaged blob was sent whole ({} bytes)",
        body.len()
    );
}
