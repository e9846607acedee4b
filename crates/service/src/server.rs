//! Binding a listener and serving a router on it in the background.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Tasks;

/// A service running in this process: its HTTP server and the loops beside it (a chain
/// follower, a heartbeat monitor...). Dropping it stops them all: the listener closes and
/// open connections end once their request is answered.
#[derive(Debug)]
pub struct Service {
    addr: SocketAddr,
    server: JoinHandle<io::Result<()>>,
    loops: Tasks,
    // Dropped with the service, which starts the graceful shutdown of every open connection
    // (aborting the server task alone would leave keep-alive connections served). Last, so
    // that it is dropped after the server task is aborted.
    _stop: oneshot::Sender<()>,
}

impl Service {
    /// Binds `listen` (port 0 picks a free one) and serves `router` there in the background.
    /// The error is the system's refusal to bind, for the caller to name the address in.
    pub async fn serve(listen: SocketAddr, router: Router) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            addr,
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

    /// The server's base URL, e.g. `http://127.0.0.1:8090`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
