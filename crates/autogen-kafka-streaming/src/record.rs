//! Records as the upper layers see them: owned bytes, no client types.

use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};

/// A record read from Kafka.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Record key, if any.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Record headers in wire order (a header may have no value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Record timestamp in milliseconds since the epoch, when the broker gave one.
    pub timestamp_ms: Option<i64>,
}

impl std::fmt::Debug for InboundRecord {
    /// Shows where the record came from and its sizes, never its contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("key_len", &self.key.as_ref().map(Vec::len))
            .field("value_len", &self.value.as_ref().map(Vec::len))
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl InboundRecord {
    /// The first header named `name` that has a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_streaming::InboundRecord;
    ///
    /// let record = InboundRecord {
    ///     topic: "t".into(),
    ///     partition: 0,
    ///     offset: 0,
    ///     key: None,
    ///     value: None,
    ///     headers: vec![("ak_reply_to".into(), Some(b"replies".to_vec()))],
    ///     timestamp_ms: None,
    /// };
    /// assert_eq!(record.header("ak_reply_to"), Some(&b"replies"[..]));
    /// assert_eq!(record.header_str("ak_reply_to"), Some("replies"));
    /// assert_eq!(record.header("missing"), None);
    /// ```
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, v)| k == name && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }

    /// The first header named `name` as UTF-8 text.
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The key as UTF-8 text, when it is valid UTF-8.
    #[must_use]
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    pub(crate) fn from_borrowed(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}

/// A record to write to Kafka.
///
/// # Examples
///
/// ```
/// use autogen_kafka_streaming::OutboundRecord;
///
/// let record = OutboundRecord::new("runtime_requests", b"{}".to_vec())
///     .with_key("echo/default")
///     .with_header("ak_reply_to", "runtime_responses.worker-1");
/// assert_eq!(record.topic, "runtime_requests");
/// assert_eq!(record.key.as_deref(), Some(&b"echo/default"[..]));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    /// Destination topic.
    pub topic: String,
    /// Record key; `None` writes a null key.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` writes a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers to write.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// A fixed partition; `None` lets the partitioner choose from the key.
    pub partition: Option<i32>,
}

impl std::fmt::Debug for OutboundRecord {
    /// Shows the destination and sizes, never the contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("key_len", &self.key.as_ref().map(Vec::len))
            .field("value_len", &self.value.as_ref().map(Vec::len))
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl OutboundRecord {
    /// A record with a value and no key.
    #[must_use]
    pub fn new(topic: impl Into<String>, value: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            key: None,
            value: Some(value),
            headers: Vec::new(),
            partition: None,
        }
    }

    /// A tombstone (null value) for `key`, which deletes the key on a compacted topic.
    #[must_use]
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        Self {
            topic: topic.into(),
            key: Some(key.into()),
            value: None,
            headers: Vec::new(),
            partition: None,
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }

    /// The first header named `name` as UTF-8 text.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_streaming::OutboundRecord;
    ///
    /// let record = OutboundRecord::new("t", b"v".to_vec()).with_header("ak_runtime", "r-1");
    /// assert_eq!(record.header_str("ak_runtime"), Some("r-1"));
    /// assert_eq!(record.header_str("missing"), None);
    /// ```
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, v)| k == name && v.is_some())
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Pins the record to a partition.
    #[must_use]
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub(crate) fn owned_headers(&self) -> Option<OwnedHeaders> {
        if self.headers.is_empty() {
            return None;
        }
        let mut headers = OwnedHeaders::new_with_capacity(self.headers.len());
        for (key, value) in &self.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        Some(headers)
    }
}
