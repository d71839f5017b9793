//! [`Secret`]: a string that never shows up in logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text every redacted value is replaced with.
pub(crate) const REDACTED: &str = "***";

/// A password, API secret or key passphrase.
///
/// `Debug`, `Display` and `Serialize` all print `***`, so a secret cannot leak through a log line,
/// an error message or a dumped config. Read the value with [`Secret::expose`] at the one place
/// that hands it to a client library.
///
/// It deserializes leniently: a numeric value (`password: 123` in YAML, or an environment variable
/// holding digits) is kept as its text.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::Secret;
///
/// let secret = Secret::new("hunter2");
/// assert_eq!(format!("{secret}"), "***");
/// assert_eq!(format!("{secret:?}"), "Secret(***)");
/// assert_eq!(secret.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret text. Only pass it straight to the library that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::de::string(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_is_redacted() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret}").contains("hunter2"));
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret:#?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn numeric_values_deserialize_as_text() {
        let secret: Secret = serde_json::from_str("123").unwrap();
        assert_eq!(secret.expose(), "123");
        let secret: Secret = serde_json::from_str("\"0123\"").unwrap();
        assert_eq!(secret.expose(), "0123");
    }
}
