//! The plumbing every decloud service shares, so that the market, the scheduler, the worker and
//! the storage node start, answer and stop alike:
//!
//! - [`Tasks`]: a set of background tasks, aborted when the set is dropped, so that dropping a
//!   service's handle stops the service;
//! - [`Service`]: binding a listener and serving an axum router on it, with the loops that run
//!   beside the server; dropping it starts the graceful shutdown of every open connection;
//!   every connection has header, body and send timeouts ([`Limits`]), and no web page of
//!   another site may change anything (the same-origin rule of [`Service::serve_with`]);
//! - [`ApiError`]: how a service's own error enum answers over HTTP (its status and
//!   `{"error": "..."}`, server errors logged), and how a request body or query the service
//!   cannot take becomes that error (413 over the size limit, 400 otherwise);
//! - [`process_cpu_time`]: the process's CPU clock, for measurements logged beside wall times.
//!
//! It depends on none of decloud's crates: each service keeps its own errors and routes.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let router = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
//! let mut service = decloud_service::Service::serve(([127, 0, 0, 1], 0).into(), router).await?;
//! service.spawn(async { /* a loop beside the server, e.g. a chain follower */ });
//! println!("listening on {}", service.url());
//! service.wait().await
//! # }
//! ```

mod cpu;
mod error;
pub mod limits;
mod origin;
mod server;
mod tasks;
pub mod tls;
pub mod transport;

pub use cpu::process_cpu_time;
pub use error::ApiError;
pub use server::{Limits, Service, is_body_timeout};
pub use tasks::Tasks;
