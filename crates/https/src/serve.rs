//! The HTTPS accept loop every keelwatch server uses.
//!
//! Why by hand: axum's own `serve` has no TLS, and the TLS adapters on crates.io either pull
//! a second TLS stack or give no handshake timeout and connection cap; the loop is short.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Limits that keep slow or idle clients from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// An HTTP/1.1 request's headers must arrive within this.
    pub header_read_timeout: Duration,
    /// Open connections at most; further clients wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` completes. Connections already
/// open finish on their own tasks; accept errors are logged and retried, never fatal.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            builder.http2().timer(TokioTimer::new()).keep_alive_interval(Duration::from_secs(30));
            if let Err(e) = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(router)).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{ensure_self_signed, server_config};
    use axum::routing::get;
    use std::io::{Read, Write};

    fn client(ca: &std::path::Path) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        reqwest::Client::builder().add_root_certificate(ca).build().unwrap()
    }

    /// Real TLS on 127.0.0.1: a client trusting the generated CA gets the route's answer;
    /// a client that never finishes its handshake is cut off; shutdown stops the loop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_over_tls_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let p = ensure_self_signed(dir.path(), &["localhost".into(), "127.0.0.1".into()], "test CA").unwrap();
        let tls = server_config(&p.cert, &p.key, None).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/ping", get(|| async { "pong" }));
        let limits = ServeLimits { handshake_timeout: Duration::from_millis(300), ..ServeLimits::default() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_tls(listener, tls, router, limits, async {
            let _ = stopped.await;
        }));

        let body = client(&p.ca_cert).get(format!("https://localhost:{}/ping", addr.port())).send().await.unwrap();
        assert_eq!(body.text().await.unwrap(), "pong");

        // A silent client: the server closes the socket after the handshake timeout.
        let silent = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let start = std::time::Instant::now();
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = s.write_all(b"x");
            (n, start.elapsed())
        })
        .await
        .unwrap();
        assert_eq!(silent.0, 0, "the server must close, not answer");
        assert!(silent.1 < Duration::from_secs(3), "closed after {:?}", silent.1);

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve_tls stops on shutdown").unwrap();
    }
}
