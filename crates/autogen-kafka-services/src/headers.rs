//! Record headers this runtime adds to the Python original's wire format.
//!
//! The Python original writes no headers and ignores the ones it reads, so these extensions travel beside its
//! events without changing them (see `docs/wire-format.md`).

/// On a request: the topic the response must go to. Absent on requests from Python runtimes, which read
/// responses from the shared response topic.
pub const REPLY_TO: &str = "ak_reply_to";
/// On a request: the caller's deadline, milliseconds since the Unix epoch. Expired requests are skipped.
pub const DEADLINE_MS: &str = "ak_deadline_ms";
/// On a record of the request topic: `rpc` (a request that wants a response) or `publish` (a publication
/// delivered to one subscriber, no response).
pub const KIND: &str = "ak_kind";
/// The runtime instance that wrote the record (registrations, subscriptions, requests).
pub const RUNTIME: &str = "ak_runtime";
/// On a registration: when it expires unless renewed, milliseconds since the Unix epoch.
pub const EXPIRES_MS: &str = "ak_expires_ms";
/// On an error response: the error's kind (`handler`, `panic`, `unhandled_type`, `decode`, `undeliverable`,
/// `timeout`, `stopped`), so a Rust caller rebuilds a typed error. Python callers read only the `error` text.
pub const ERROR_KIND: &str = "ak_error_kind";
/// On a publication written by a Rust runtime: it was already delivered to Rust subscribers, so the publish
/// router must not deliver it again.
pub const FANNED_OUT: &str = "ak_fanned_out";

/// `ak_kind` value of an RPC request.
pub const KIND_RPC: &str = "rpc";
/// `ak_kind` value of a publication delivered to one subscriber.
pub const KIND_PUBLISH: &str = "publish";

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
