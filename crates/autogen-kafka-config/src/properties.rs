//! [`ClientProperties`]: a librdkafka property map that is safe to log.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;

use crate::secret::REDACTED;

/// librdkafka client properties (`bootstrap.servers`, `sasl.password`, ...), in name order.
///
/// It is a plain map (turn it into an `rdkafka::ClientConfig` by iterating it), but its `Debug`
/// and `Display` forms replace the value of every sensitive property (see
/// [`ClientProperties::is_sensitive`]) with `***`, so the map can be logged as is.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::ClientProperties;
///
/// let mut props = ClientProperties::new();
/// props.insert("bootstrap.servers", "localhost:9092");
/// props.insert("sasl.password", "hunter2");
/// assert_eq!(props.get("sasl.password"), Some("hunter2"));
/// let logged = format!("{props:?}");
/// assert!(logged.contains("localhost:9092"));
/// assert!(!logged.contains("hunter2"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientProperties(BTreeMap<String, String>);

impl ClientProperties {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// Sets every entry of `other`; entries of `other` win over existing ones.
    pub fn merge<K, V>(&mut self, other: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in other {
            self.insert(k, v);
        }
    }

    /// The value of `key`, if set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// Iterates over `(name, value)` pairs in name order (values are NOT redacted).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of properties.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no property is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying map (values are NOT redacted).
    #[must_use]
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The underlying map (values are NOT redacted).
    #[must_use]
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }

    /// Whether a property holds a credential: its name contains `password`, `secret` or
    /// `credentials`, or it is one of `basic.auth.user.info`, `sasl.oauthbearer.config`,
    /// `ssl.key.pem`, `ssl_key`.
    #[must_use]
    pub fn is_sensitive(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        ["password", "secret", "credentials"]
            .iter()
            .any(|word| key.contains(word))
            || matches!(
                key.as_str(),
                "basic.auth.user.info" | "sasl.oauthbearer.config" | "ssl.key.pem" | "ssl_key"
            )
    }

    fn redacted(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| {
            if Self::is_sensitive(k) {
                (k, REDACTED)
            } else {
                (k, v)
            }
        })
    }
}

impl fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

impl fmt::Display for ClientProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.redacted().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ClientProperties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut props = Self::new();
        props.merge(iter);
        props
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for ClientProperties {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.merge(iter);
    }
}

impl IntoIterator for ClientProperties {
    type Item = (String, String);
    type IntoIter = btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ClientProperties {
    type Item = (&'a String, &'a String);
    type IntoIter = btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<ClientProperties> for BTreeMap<String, String> {
    fn from(props: ClientProperties) -> Self {
        props.0
    }
}

impl From<BTreeMap<String, String>> for ClientProperties {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_are_redacted_in_debug_and_display() {
        let props: ClientProperties = [
            ("bootstrap.servers", "b:9092"),
            ("sasl.password", "pw1"),
            ("ssl.key.password", "pw2"),
            ("basic.auth.user.info", "key:pw3"),
            ("sasl.oauthbearer.client.secret", "pw4"),
            ("ssl.keystore.password", "pw5"),
        ]
        .into_iter()
        .collect();
        for rendered in [
            format!("{props:?}"),
            format!("{props:#?}"),
            props.to_string(),
        ] {
            assert!(rendered.contains("b:9092"), "{rendered}");
            for pw in ["pw1", "pw2", "pw3", "pw4", "pw5"] {
                assert!(!rendered.contains(pw), "{pw} leaked in {rendered}");
            }
        }
        // The data itself is intact.
        assert_eq!(props.get("sasl.password"), Some("pw1"));
        assert_eq!(props.len(), 6);
    }

    #[test]
    fn later_entries_win_when_merging() {
        let mut props = ClientProperties::new();
        props.insert("linger.ms", "5");
        props.merge([("linger.ms", "0"), ("acks", "all")]);
        assert_eq!(props.get("linger.ms"), Some("0"));
        assert_eq!(props.into_map().len(), 2);
    }
}
