//! Helpers for what tests assert.

/// An error and its causes on one line, `: `-separated, for assertions on what an error says.
///
/// # Examples
///
/// ```
/// let error = std::io::Error::other("refused");
/// assert_eq!(autogen_kafka_testing::error_chain(&error), "refused");
/// ```
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
