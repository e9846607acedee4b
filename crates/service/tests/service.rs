//! The plumbing as a service uses it: tasks stopped with their owner, a served router stopped
//! on drop, error answers and rejected bodies.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decloud_service::{ApiError, Service, Tasks};
use tokio::sync::oneshot;

const LIMIT: usize = 64;

#[derive(Debug, PartialEq)]
enum TestError {
    BadRequest(String),
    TooLarge,
    Broken,
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::BadRequest(m) => f.write_str(m),
            TestError::TooLarge => write!(f, "request body over {LIMIT} bytes"),
            TestError::Broken => f.write_str("the database is gone"),
        }
    }
}

impl ApiError for TestError {
    fn status(&self) -> StatusCode {
        match self {
            TestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            TestError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            TestError::Broken => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad_request(message: String) -> Self {
        TestError::BadRequest(message)
    }

    fn too_large() -> Self {
        TestError::TooLarge
    }
}

impl IntoResponse for TestError {
    fn into_response(self) -> Response {
        self.response()
    }
}

#[derive(serde::Deserialize)]
struct Page {
    page: u32,
}

fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/echo",
            post(
                |body: Result<Json<serde_json::Value>, JsonRejection>| async move {
                    TestError::json_body(body).map(Json)
                },
            ),
        )
        .route(
            "/page",
            get(|query: Result<Query<Page>, QueryRejection>| async move {
                TestError::query(query).map(|p| p.page.to_string())
            }),
        )
        .route("/broken", get(|| async { Err::<(), _>(TestError::Broken) }))
        .layer(DefaultBodyLimit::max(LIMIT))
}

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

/// A task that reports on `dropped` when it is dropped (aborted or done) and otherwise runs
/// forever.
async fn forever(dropped: oneshot::Sender<()>) {
    let _guard = dropped;
    std::future::pending::<()>().await;
}

async fn gone(dropped: oneshot::Receiver<()>) -> bool {
    // The sender is dropped, never used: the receiver sees it closed.
    tokio::time::timeout(Duration::from_secs(5), dropped)
        .await
        .is_ok()
}

#[tokio::test]
async fn tasks_are_aborted_when_the_set_is_dropped() {
    let (a, a_gone) = oneshot::channel();
    let (b, b_gone) = oneshot::channel();
    let mut tasks = Tasks::new();
    tasks.spawn(forever(a));
    tasks.spawn(forever(b));
    drop(tasks);
    assert!(gone(a_gone).await, "the first task still runs");
    assert!(gone(b_gone).await, "the second task still runs");
}

#[tokio::test]
async fn stop_aborts_the_tasks_and_waits_for_them() {
    let (a, mut a_gone) = oneshot::channel();
    let mut tasks = Tasks::new();
    tasks.spawn(forever(a));
    tasks.stop().await;
    // Already gone when stop returns: no waiting needed.
    assert_eq!(a_gone.try_recv(), Err(oneshot::error::TryRecvError::Closed));
}

#[tokio::test]
async fn wait_returns_once_every_task_has_ended() {
    let (done, done_rx) = oneshot::channel::<()>();
    let mut tasks = Tasks::new();
    tasks.spawn(async {});
    tasks.spawn(async move {
        let _ = done.send(());
    });
    tokio::time::timeout(Duration::from_secs(5), tasks.wait())
        .await
        .expect("wait returns once the tasks end");
    assert_eq!(done_rx.await, Ok(()));
}

#[tokio::test]
async fn a_service_serves_until_it_is_dropped() {
    let (l, loop_gone) = oneshot::channel();
    let mut service = Service::serve(loopback(), router()).await.unwrap();
    service.spawn(forever(l));
    assert_ne!(
        service.addr().port(),
        0,
        "port 0 is resolved to the bound port"
    );
    assert_eq!(service.url(), format!("http://{}", service.addr()));
    assert_eq!(
        get_text(&service, "/health").await,
        (StatusCode::OK, "ok".into())
    );
    let health = format!("{}/health", service.url());

    drop(service);
    assert!(
        gone(loop_gone).await,
        "the loop beside the server still runs"
    );
    // A fresh client: the listener is closed, so the connection is refused.
    let mut refused = false;
    for _ in 0..50 {
        if reqwest::Client::new().get(&health).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the server still answers after the service was dropped"
    );
}

#[tokio::test]
async fn stop_ends_the_server_and_its_loops() {
    let (l, mut loop_gone) = oneshot::channel();
    let mut service = Service::serve(loopback(), router()).await.unwrap();
    service.spawn(forever(l));
    let addr = service.addr();
    service.stop().await;
    assert_eq!(
        loop_gone.try_recv(),
        Err(oneshot::error::TryRecvError::Closed)
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn binding_a_taken_address_is_the_systems_error() {
    let first = Service::serve(loopback(), router()).await.unwrap();
    let err = Service::serve(first.addr(), router()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

/// The status and the raw text of an answer.
async fn read(answer: reqwest::Response) -> (StatusCode, String) {
    (answer.status(), answer.text().await.unwrap())
}

/// Posts `body` to `/echo`.
async fn post_echo(service: &Service, body: String) -> (StatusCode, String) {
    let answer = reqwest::Client::new()
        .post(format!("{}/echo", service.url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    read(answer).await
}

/// Gets `path` (with its query).
async fn get_text(service: &Service, path: &str) -> (StatusCode, String) {
    read(
        reqwest::get(format!("{}{path}", service.url()))
            .await
            .unwrap(),
    )
    .await
}

fn error_of(text: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(text).unwrap();
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_with_a_one_line_json_error() {
    let service = Service::serve(loopback(), router()).await.unwrap();
    let huge = format!("\"{}\"", "x".repeat(LIMIT + 1));
    let (status, text) = post_echo(&service, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert_eq!(error_of(&text), TestError::TooLarge.to_string());
}

#[tokio::test]
async fn a_malformed_body_is_a_400_naming_what_is_wrong() {
    let service = Service::serve(loopback(), router()).await.unwrap();
    let (status, text) = post_echo(&service, "{not json".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&text).starts_with("invalid request body: "),
        "{text}"
    );
    let (status, text) = post_echo(&service, "[1]".into()).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "[1]"));
}

#[tokio::test]
async fn a_malformed_query_is_a_400_and_a_good_one_is_read() {
    let service = Service::serve(loopback(), router()).await.unwrap();
    let (status, text) = get_text(&service, "/page?page=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&text).starts_with("invalid query: "), "{text}");
    assert_eq!(
        get_text(&service, "/page?page=3").await,
        (StatusCode::OK, "3".into())
    );
}

#[test]
fn an_error_answers_with_its_status() {
    let response = TestError::Broken.response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = TestError::BadRequest("no".into()).into_response();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_server_error_answers_its_message() {
    let service = Service::serve(loopback(), router()).await.unwrap();
    let (status, text) = get_text(&service, "/broken").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_of(&text), "the database is gone");
}

#[tokio::test]
async fn handlers_see_the_clients_address() {
    // What per-client limits key on: the peer of the TCP connection, as axum's ConnectInfo.
    let router = Router::new().route(
        "/peer",
        get(|info: axum::extract::ConnectInfo<SocketAddr>| async move { info.0.to_string() }),
    );
    let service = Service::serve(loopback(), router).await.unwrap();
    let (status, peer) = get_text(&service, "/peer").await;
    assert_eq!(status, StatusCode::OK);
    let peer: SocketAddr = peer.parse().unwrap();
    assert!(
        peer.ip().is_loopback() && peer.port() != service.addr().port(),
        "{peer}"
    );
}

/// A server that answers every connection with `chunks` chunks of 1 KiB, chunked (no length
/// announced), or with a `Content-Length` of `announced` and no body at all.
async fn raw_server(chunks: usize, announced: Option<u64>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            if let Some(length) = announced {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
                let _ = socket.write_all(head.as_bytes()).await;
                continue;
            }
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for _ in 0..chunks {
                out.extend_from_slice(b"400\r\n");
                out.extend_from_slice(&[b'a'; 1024]);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            let _ = socket.write_all(&out).await;
        }
    });
    url
}

#[tokio::test]
async fn a_capped_body_is_read_up_to_its_cap_and_refused_past_it() {
    use decloud_service::transport::{BodyError, read_body_capped};
    let get = |url: String| async move { reqwest::get(url).await.unwrap() };
    // 8 KiB, streamed: read whole at a cap of 8 KiB, refused at one byte less.
    let url = raw_server(8, None).await;
    let body = read_body_capped(get(url.clone()).await, 8 * 1024)
        .await
        .unwrap();
    assert_eq!(body, vec![b'a'; 8 * 1024]);
    let refused = read_body_capped(get(url).await, 8 * 1024 - 1).await;
    assert!(
        matches!(refused, Err(BodyError::TooLarge { limit }) if limit == 8 * 1024 - 1),
        "{refused:?}"
    );
    // A length announced over the cap is refused before any byte arrives (none ever does).
    let url = raw_server(0, Some(1 << 30)).await;
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        read_body_capped(get(url).await, 1024),
    )
    .await
    .expect("refused at once, not after waiting for the body");
    assert!(
        matches!(refused, Err(BodyError::TooLarge { .. })),
        "{refused:?}"
    );
}
