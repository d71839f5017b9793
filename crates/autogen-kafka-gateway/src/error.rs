//! The gateway's errors.

/// What can go wrong serving the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The HTTP server failed.
    #[error("serving the A2A gateway failed")]
    Serve(#[source] std::io::Error),
}
