//! Binding a listener and serving a router on it in the background, with the connection limits
//! and the same-origin rule every service applies.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::Tasks;
use crate::origin::same_origin;

/// How long a client may keep a connection busy without making progress. A connection that
/// breaks one of these is closed, so a slow or silent client holds no memory, task or file
/// for longer than the limit, whatever the size of what it sends or fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a request's head (request line and headers), from the moment the
    /// server waits for it: on a new connection, and between two requests of a kept-alive one
    /// (so it is also how long an idle connection stays open).
    pub header_timeout: Duration,
    /// Longest a request body may send nothing while the service reads it: a body that stalls
    /// fails (the service answers an error) and the connection is closed.
    pub body_timeout: Duration,
    /// Longest the server waits for a client to take the next bytes of an answer (a client
    /// that stops reading a download): the connection is then closed.
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
        }
    }
}

/// A service running in this process: its HTTP server and the loops beside it (a chain
/// follower, a heartbeat monitor...). Dropping it stops them all: the listener closes and
/// open connections end once their request is answered.
#[derive(Debug)]
pub struct Service {
    addr: SocketAddr,
    /// The fingerprint of its key when it serves TLS (its URL is then `https://`).
    pin: Option<crate::tls::Fingerprint>,
    server: JoinHandle<io::Result<()>>,
    loops: Tasks,
    // Dropped with the service, which starts the graceful shutdown of every open connection
    // (aborting the server task alone would leave keep-alive connections served). Last, so
    // that it is dropped after the server task is aborted.
    _stop: watch::Sender<()>,
}

impl Service {
    /// Binds `listen` (port 0 picks a free one) and serves `router` there in the background,
    /// with the default [`Limits`]. The error is the system's refusal to bind, for the caller
    /// to name the address in.
    pub async fn serve(listen: SocketAddr, router: Router) -> io::Result<Self> {
        Self::serve_with(listen, router, Limits::default()).await
    }

    /// Same as [`Service::serve`] with these connection limits.
    ///
    /// Every request also goes through the same-origin rule: a request that would change
    /// something (any method but GET, HEAD and OPTIONS) is refused with 403 when a browser
    /// says it comes from another site (an `Origin` that is not this server, or
    /// `Sec-Fetch-Site: cross-site`), so no web page can write here; and a service listening
    /// on a loopback address answers only requests addressed to a loopback name, so a page
    /// cannot reach it by rebinding its own domain name to 127.0.0.1. CORS is off: no answer
    /// carries `Access-Control-Allow-*`.
    pub async fn serve_with(
        listen: SocketAddr,
        router: Router,
        limits: Limits,
    ) -> io::Result<Self> {
        Self::serve_inner(listen, router, limits, None).await
    }

    /// [`Service::serve_with`] over TLS 1.3 with `identity` (see [`crate::tls`]): a client that
    /// does not finish its handshake within the header timeout is dropped, and one that speaks
    /// plain HTTP gets no answer. Every request but `GET /health` must name the service's key in
    /// [`PIN_HEADER`](crate::transport::PIN_HEADER) (clients made by
    /// [`http_client`](crate::transport::http_client) from a pinned URL do). The error is the
    /// system's refusal to bind (or, never with an identity this crate made, a TLS setup
    /// failure).
    pub async fn serve_tls(
        listen: SocketAddr,
        router: Router,
        limits: Limits,
        identity: &crate::tls::TlsIdentity,
    ) -> io::Result<Self> {
        let config = identity.server_config().map_err(io::Error::other)?;
        let pin = identity.fingerprint();
        let router = router.layer(axum::middleware::from_fn(move |request, next| {
            crate::transport::require_pin(pin, request, next)
        }));
        Self::serve_inner(listen, router, limits, Some((config, pin))).await
    }

    /// [`Service::serve_with`] or [`Service::serve_tls`], as `transport` says.
    pub async fn serve_on(
        listen: SocketAddr,
        router: Router,
        limits: Limits,
        transport: &crate::transport::Transport,
    ) -> io::Result<Self> {
        match transport {
            crate::transport::Transport::Tls(identity) => {
                Self::serve_tls(listen, router, limits, identity).await
            }
            crate::transport::Transport::InsecureHttp => {
                Self::serve_with(listen, router, limits).await
            }
        }
    }

    /// [`Service::serve_tls`] that also asks clients for a certificate chaining to one of
    /// `client_cas` (mutual TLS, see [`crate::tls::TlsIdentity::server_config_with_clients`]):
    /// a client without one is served as usual; one with a certificate from another CA fails
    /// its handshake; handlers see a verified chain as a
    /// [`ClientCertificate`](crate::tls::ClientCertificate) extension.
    pub async fn serve_mtls(
        listen: SocketAddr,
        router: Router,
        limits: Limits,
        identity: &crate::tls::TlsIdentity,
        client_cas: &[rustls::pki_types::CertificateDer<'static>],
    ) -> io::Result<Self> {
        let config = identity
            .server_config_with_clients(client_cas)
            .map_err(io::Error::other)?;
        let pin = identity.fingerprint();
        let router = router.layer(axum::middleware::from_fn(move |request, next| {
            crate::transport::require_pin(pin, request, next)
        }));
        Self::serve_inner(listen, router, limits, Some((config, pin))).await
    }

    async fn serve_inner(
        listen: SocketAddr,
        router: Router,
        limits: Limits,
        tls: Option<(
            std::sync::Arc<rustls::ServerConfig>,
            crate::tls::Fingerprint,
        )>,
    ) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let loopback = addr.ip().is_loopback();
        let router = router
            .layer(axum::middleware::from_fn(move |request, next| {
                same_origin(loopback, request, next)
            }))
            .layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
        let (stop, stopped) = watch::channel(());
        let pin = tls.as_ref().map(|(_, pin)| *pin);
        let tls = tls.map(|(config, _)| tokio_rustls::TlsAcceptor::from(config));
        let server = tokio::spawn(accept(listener, router, limits, tls, stopped));
        Ok(Self {
            addr,
            pin,
            server,
            loops: Tasks::new(),
            _stop: stop,
        })
    }

    /// Runs `task` beside the server until the service is stopped or dropped.
    pub fn spawn<F>(&mut self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.loops.spawn(task);
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's base URL, e.g. `http://127.0.0.1:8090` (`https://` over TLS), without
    /// the pin: see [`Service::pinned_url`] for what clients need.
    pub fn url(&self) -> String {
        let scheme = if self.pin.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The server's URL with the fingerprint of its key, as its clients should be given it.
    pub fn pinned_url(&self) -> crate::transport::PinnedUrl {
        crate::transport::PinnedUrl::new(&self.url(), self.pin)
    }

    /// Stops the server, then the loops, and waits until they are gone.
    pub async fn stop(mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
        std::mem::take(&mut self.loops).stop().await;
    }

    /// Waits until the server and then every loop have ended (they run until the process ends
    /// or this value is dropped); the server's error, if it failed.
    pub async fn wait(mut self) -> io::Result<()> {
        let served = match (&mut self.server).await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        };
        std::mem::take(&mut self.loops).wait().await;
        served
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Whether `error` (a request body's, as a handler streaming it sees it) is the body timeout of
/// [`Limits::body_timeout`]: the client stalled, rather than sent something wrong.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Accepts connections until `stopped` fires (or its sender is dropped), serving each in its
/// own task with hyper's HTTP/1 and the `limits`.
async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: watch::Receiver<()>,
) -> io::Result<()> {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait rather than spin.
                Err(e) if !is_connection_error(&e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(_) => continue,
            },
            _ = stopped.changed() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let stream = SendTimeout::new(stream, limits.send_timeout);
        let stopped = stopped.clone();
        let tls = tls.clone();
        let router = router.clone();
        // Every request carries the client's address (axum's `ConnectInfo`, which limits key
        // on) and, over mutual TLS, its verified certificate.
        let connection_service = move |certificate: Option<crate::tls::ClientCertificate>| {
            TowerToHyperService::new(tower::ServiceExt::map_request(
                router,
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    if let Some(certificate) = &certificate {
                        request.extensions_mut().insert(certificate.clone());
                    }
                    request
                },
            ))
        };
        tokio::spawn(async move {
            match tls {
                None => {
                    let service = connection_service(None);
                    serve_connection(stream, service, limits, stopped).await
                }
                Some(acceptor) => {
                    // The handshake counts against the header timeout: a client that opens a
                    // connection and says nothing holds it no longer than one that sends no
                    // request head.
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => {
                            let certificate = stream.get_ref().1.peer_certificates().map(|chain| {
                                crate::tls::ClientCertificate(std::sync::Arc::new(
                                    chain.iter().map(|c| c.clone().into_owned()).collect(),
                                ))
                            });
                            let service = connection_service(certificate);
                            serve_connection(stream, service, limits, stopped).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection with hyper's HTTP/1 and the `limits` until it ends, or, once
/// `stopped` fires, until its current request is answered.
async fn serve_connection<S, T>(
    stream: S,
    service: T,
    limits: Limits,
    mut stopped: watch::Receiver<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: hyper::service::Service<
            axum::http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
        > + Send
        + 'static,
    T::Future: Send + 'static,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = stopped.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Errors of one connection, which say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection whose writes fail with `TimedOut` once they have waited for the client for
/// longer than the limit: hyper then drops the connection, and with it the answer's body.
struct SendTimeout {
    stream: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl SendTimeout {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// Turns a write's `Pending` into a `TimedOut` error once the client has taken nothing
    /// for the limit; any progress restarts the clock.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing of the answer for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for SendTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}
