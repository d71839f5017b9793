//! The gateway's errors.

/// What can go wrong serving the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The HTTP server failed.
    #[error("serving the A2A gateway failed")]
    Serve(#[source] std::io::Error),
    /// The task topic could not be created, read or written.
    #[error("{what} the A2A task topic `{topic}` failed")]
    TaskTopic {
        /// The topic.
        topic: String,
        /// `creating`, `reading` or `writing`.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
