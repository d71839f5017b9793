//! The HTTP endpoint serving `/metrics`, `/health/live` and `/health/ready`.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{MonitoringError, Result};
use crate::health::{Health, HealthReport};
use crate::metrics::Metrics;

/// The Prometheus text exposition format's content type.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The HTTP endpoint that exposes a [`Metrics`] registry and a [`Health`] registry.
///
/// | route | answer |
/// |---|---|
/// | `GET /metrics` | 200, the Prometheus text format ([`Metrics::encode_text`]) |
/// | `GET /health/live` | 200 if [`Health::liveness`] passes, else 503; JSON [`HealthReport`] body |
/// | `GET /health/ready` | 200 if [`Health::readiness`] passes, else 503; JSON [`HealthReport`] body |
///
/// Build it with [`MonitoringServer::builder`]; [`build`](MonitoringServerBuilder::build)
/// binds the address (so a port clash shows at startup and port 0 can be read back with
/// [`local_addr`](MonitoringServer::local_addr)), and [`serve`](MonitoringServer::serve)
/// answers requests until its [`CancellationToken`] is cancelled.
///
/// # Examples
///
/// ```
/// use autogen_kafka_monitoring::{Health, Metrics, MonitoringServer};
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> autogen_kafka_monitoring::Result<()> {
/// let metrics = Metrics::new()?;
/// let health = Health::new();
/// let server = MonitoringServer::builder(metrics, health)
///     .address(([127, 0, 0, 1], 0).into())
///     .build()
///     .await?;
/// let address = server.local_addr(); // the port the OS chose
///
/// let shutdown = CancellationToken::new();
/// let serving = tokio::spawn(server.serve(shutdown.clone()));
/// // ... run the application ...
/// assert_ne!(address.port(), 0);
/// shutdown.cancel();
/// serving.await.expect("the server task panicked")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MonitoringServer {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
}

/// Configures a [`MonitoringServer`]; made by [`MonitoringServer::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct MonitoringServerBuilder {
    metrics: Metrics,
    health: Health,
    address: SocketAddr,
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Health,
}

impl MonitoringServer {
    /// The address used when none is set: `127.0.0.1:9464` (loopback only; set
    /// `0.0.0.0:9464` to let a scraper outside the host or container in).
    pub const DEFAULT_ADDRESS: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

    /// Starts configuring an endpoint that serves `metrics` and `health`.
    pub fn builder(metrics: Metrics, health: Health) -> MonitoringServerBuilder {
        MonitoringServerBuilder {
            metrics,
            health,
            address: Self::DEFAULT_ADDRESS,
        }
    }

    /// The address the endpoint is bound to (with the real port when built with port 0).
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Answers requests until `shutdown` is cancelled, then stops accepting connections,
    /// closes idle ones, lets requests in progress finish and returns.
    ///
    /// A client that stalls in the middle of a request delays the return, so await this
    /// under the runtime's shutdown deadline (`tokio::time::timeout`).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ServeMonitoring`] if the server stops with an I/O error.
    #[tracing::instrument(name = "monitoring_server", skip_all, fields(address = %self.address))]
    pub async fn serve(self, shutdown: CancellationToken) -> Result<()> {
        let address = self.address;
        tracing::info!("monitoring endpoint listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| MonitoringError::ServeMonitoring { address, source })?;
        tracing::info!("monitoring endpoint stopped");
        Ok(())
    }
}

impl MonitoringServerBuilder {
    /// The address to listen on (default [`MonitoringServer::DEFAULT_ADDRESS`]); port 0
    /// lets the OS choose a free port.
    pub const fn address(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }

    /// Binds the address and returns the server, ready to [`serve`](MonitoringServer::serve).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::BindServer`] if the address cannot be bound (in use, not local,
    /// no permission).
    pub async fn build(self) -> Result<MonitoringServer> {
        let requested = self.address;
        let bind_error = |source| MonitoringError::BindServer {
            address: requested,
            source,
        };
        let listener = TcpListener::bind(requested).await.map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/health/live", get(liveness))
            .route("/health/ready", get(readiness))
            .with_state(AppState {
                metrics: self.metrics,
                health: self.health,
            });
        Ok(MonitoringServer {
            listener,
            address,
            router,
        })
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode_text() {
        Ok(text) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(METRICS_CONTENT_TYPE),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "serving /metrics failed"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn liveness(State(state): State<AppState>) -> Response {
    health_response(&state.health.liveness())
}

async fn readiness(State(state): State<AppState>) -> Response {
    health_response(&state.health.readiness())
}

fn health_response(report: &HealthReport) -> Response {
    let status = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match serde_json::to_vec(report) {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "encoding a health report failed"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the health report failed\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests;
