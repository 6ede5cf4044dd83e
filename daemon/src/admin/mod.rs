//! The daemon's HTTP side: the admin API (health, readiness, metrics, pipeline status;
//! `weir run --admin-listen`) and Confluent's Schema Registry API over the local
//! registry (`weir schema serve`, or `weir run --registry-listen`), each on its own
//! listener.

pub mod api;
pub mod registry;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds `listen`; the error names the address.
pub async fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))
}

/// Serves `router` (the API named `what`) on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    what: &'static str,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "{what} listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
