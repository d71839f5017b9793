//! A TLS-terminating TCP proxy for tests: Kafka clients speak TLS to it (optionally presenting a client
//! certificate), and it forwards the plaintext bytes to a broker that has no usable TLS listener of its own.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::{Result, TestingError};
use crate::pki::TestPki;

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub(crate) struct TlsProxy {
    task: JoinHandle<()>,
}

impl TlsProxy {
    /// Serves TLS with `pki`'s server certificate on `listener` and forwards each connection to `upstream`; with
    /// `require_client_certificate`, a client must present a certificate `pki`'s CA signed.
    pub(crate) fn start(
        listener: std::net::TcpListener,
        upstream: SocketAddr,
        pki: &TestPki,
        require_client_certificate: bool,
    ) -> Result<Self> {
        let acceptor =
            tokio_rustls::TlsAcceptor::from(pki.server_config(require_client_certificate)?);
        listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
            .map_err(|source| TestingError::Pki {
                what: "TLS proxy listener",
                message: source.to_string(),
            })
            .map(|listener| {
                let task = tokio::spawn(async move {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let tls = match acceptor.accept(client).await {
                                Ok(tls) => tls,
                                Err(error) => {
                                    tracing::debug!(%error, "TLS proxy: handshake failed");
                                    return;
                                }
                            };
                            let Ok(broker) = TcpStream::connect(upstream).await else {
                                return;
                            };
                            let (mut tls, mut broker) = (tls, broker);
                            // Ends when either side closes.
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                        });
                    }
                });
                Self { task }
            })
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
