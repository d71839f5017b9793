//! [`SubscriptionEvent`]: a subscription added or removed (WIRE §4).

use apache_avro::types::Value as AvroValue;
use serde::{Deserialize, Serialize};

use crate::avro_value::{RecordReader, string, unwrap_union};
use crate::event::{WireEvent, from_document};
use crate::{EventKind, EventsError, Result};

/// Whether the subscription was added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionOperation {
    /// `"added"`.
    Added,
    /// `"removed"`.
    Removed,
}

impl SubscriptionOperation {
    /// The wire text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
        }
    }

    const fn index(self) -> u32 {
        match self {
            Self::Added => 0,
            Self::Removed => 1,
        }
    }
}

/// A `TypeSubscription`: topics of type `topic_type` go to agents of type `agent_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeSubscription {
    /// The topic type matched exactly.
    pub topic_type: String,
    /// The receiving agent type.
    pub agent_type: String,
    /// The subscription id.
    pub id: String,
}

/// A `TypePrefixSubscription`: topics whose type starts with `topic_type_prefix` go to agents
/// of type `agent_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypePrefixSubscription {
    /// The topic type prefix.
    pub topic_type_prefix: String,
    /// The receiving agent type.
    pub agent_type: String,
    /// The subscription id.
    pub id: String,
}

/// The `type` + `subscription` pair of a [`SubscriptionEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "subscription")]
#[non_exhaustive]
pub enum WireSubscription {
    /// `"type": "TypeSubscription"` with an object.
    #[serde(rename = "TypeSubscription")]
    Type(TypeSubscription),
    /// `"type": "TypePrefixSubscription"` with an object.
    #[serde(rename = "TypePrefixSubscription")]
    TypePrefix(TypePrefixSubscription),
    /// `"type": "StringSubscription"` with the subscription id as a string; upstream uses this
    /// form for removals only.
    #[serde(rename = "StringSubscription")]
    Id(String),
}

impl WireSubscription {
    /// The subscription id, whatever the form.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Type(s) => &s.id,
            Self::TypePrefix(s) => &s.id,
            Self::Id(id) => id,
        }
    }

    /// The wire `type` text.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Type(_) => "TypeSubscription",
            Self::TypePrefix(_) => "TypePrefixSubscription",
            Self::Id(_) => "StringSubscription",
        }
    }
}

/// A subscription change, broadcast on the subscription topic with a null key.
///
/// The JSON keys are `type`, `subscription`, `operation`, in that order.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::SubscriptionEvent;
///
/// let added = SubscriptionEvent::added_type("sub-1", "news", "echo");
/// assert_eq!(
///     serde_json::to_string(&added)?,
///     r#"{"type":"TypeSubscription","subscription":{"topic_type":"news","agent_type":"echo","id":"sub-1"},"operation":"added"}"#
/// );
/// let removed = SubscriptionEvent::removed("sub-1");
/// assert_eq!(removed.subscription.id(), "sub-1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubscriptionEvent {
    /// The subscription (or, for removals, its id).
    #[serde(flatten)]
    pub subscription: WireSubscription,
    /// Added or removed.
    pub operation: SubscriptionOperation,
}

impl SubscriptionEvent {
    /// An event with the given subscription and operation.
    #[must_use]
    pub const fn new(subscription: WireSubscription, operation: SubscriptionOperation) -> Self {
        Self {
            subscription,
            operation,
        }
    }

    /// `added` for a `TypeSubscription`.
    #[must_use]
    pub fn added_type(
        id: impl Into<String>,
        topic_type: impl Into<String>,
        agent_type: impl Into<String>,
    ) -> Self {
        Self::new(
            WireSubscription::Type(TypeSubscription {
                topic_type: topic_type.into(),
                agent_type: agent_type.into(),
                id: id.into(),
            }),
            SubscriptionOperation::Added,
        )
    }

    /// `added` for a `TypePrefixSubscription`.
    #[must_use]
    pub fn added_type_prefix(
        id: impl Into<String>,
        topic_type_prefix: impl Into<String>,
        agent_type: impl Into<String>,
    ) -> Self {
        Self::new(
            WireSubscription::TypePrefix(TypePrefixSubscription {
                topic_type_prefix: topic_type_prefix.into(),
                agent_type: agent_type.into(),
                id: id.into(),
            }),
            SubscriptionOperation::Added,
        )
    }

    /// `removed` by id, in the `StringSubscription` form upstream sends.
    #[must_use]
    pub fn removed(id: impl Into<String>) -> Self {
        Self::new(
            WireSubscription::Id(id.into()),
            SubscriptionOperation::Removed,
        )
    }

    /// The record key (WIRE §2): always null.
    #[must_use]
    pub const fn record_key(&self) -> Option<&str> {
        None
    }
}

impl WireEvent for SubscriptionEvent {
    const KIND: EventKind = EventKind::Subscription;

    fn from_json_value(document: serde_json::Value) -> Result<Self> {
        if let Some(kind) = document.get("type").and_then(serde_json::Value::as_str)
            && !matches!(
                kind,
                "TypeSubscription" | "TypePrefixSubscription" | "StringSubscription"
            )
        {
            return Err(EventsError::invalid_field(
                Self::KIND,
                "type",
                format!("unknown subscription type {kind:?}"),
            ));
        }
        from_document(Self::KIND, document, &[])
    }

    fn to_avro(&self) -> Result<AvroValue> {
        let subscription = match &self.subscription {
            WireSubscription::Type(s) => AvroValue::Union(
                0,
                Box::new(AvroValue::Record(vec![
                    ("topic_type".into(), string(&s.topic_type)),
                    ("agent_type".into(), string(&s.agent_type)),
                    ("id".into(), string(&s.id)),
                ])),
            ),
            WireSubscription::TypePrefix(s) => AvroValue::Union(
                1,
                Box::new(AvroValue::Record(vec![
                    ("topic_type_prefix".into(), string(&s.topic_type_prefix)),
                    ("agent_type".into(), string(&s.agent_type)),
                    ("id".into(), string(&s.id)),
                ])),
            ),
            WireSubscription::Id(id) => AvroValue::Union(2, Box::new(string(id))),
        };
        Ok(AvroValue::Record(vec![
            ("subscription".into(), subscription),
            (
                "operation".into(),
                AvroValue::Enum(self.operation.index(), self.operation.as_str().to_owned()),
            ),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        let subscription = match r.take("subscription").map(unwrap_union) {
            None => {
                return Err(EventsError::MissingField {
                    kind: Self::KIND,
                    field: "subscription",
                });
            }
            Some(AvroValue::String(id)) => WireSubscription::Id(id),
            Some(record @ AvroValue::Record(_)) => subscription_record(record)?,
            Some(other) => return Err(r.wrong("subscription", "record or string", &other)),
        };
        let operation = match r.string("operation")?.as_str() {
            "added" => SubscriptionOperation::Added,
            "removed" => SubscriptionOperation::Removed,
            other => {
                return Err(EventsError::invalid_field(
                    Self::KIND,
                    "operation",
                    format!("unknown value {other:?}"),
                ));
            }
        };
        Ok(Self::new(subscription, operation))
    }
}

fn subscription_record(record: AvroValue) -> Result<WireSubscription> {
    let is_prefix = matches!(&record, AvroValue::Record(fields)
        if fields.iter().any(|(name, _)| name == "topic_type_prefix"));
    let mut r = RecordReader::new(EventKind::Subscription, record)?;
    if is_prefix {
        Ok(WireSubscription::TypePrefix(TypePrefixSubscription {
            topic_type_prefix: r.string("topic_type_prefix")?,
            agent_type: r.string("agent_type")?,
            id: r.string("id")?,
        }))
    } else {
        Ok(WireSubscription::Type(TypeSubscription {
            topic_type: r.string("topic_type")?,
            agent_type: r.string("agent_type")?,
            id: r.string("id")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_accepts_every_form() {
        let doc = serde_json::json!({
            "type": "TypePrefixSubscription",
            "subscription": {"topic_type_prefix": "news.", "agent_type": "echo", "id": "s"},
            "operation": "removed"
        });
        let event = SubscriptionEvent::from_json_value(doc).unwrap();
        assert_eq!(event.operation, SubscriptionOperation::Removed);
        assert_eq!(event.subscription.type_name(), "TypePrefixSubscription");
    }

    #[test]
    fn type_and_subscription_must_agree() {
        let doc = serde_json::json!({
            "type": "TypeSubscription", "subscription": "id-only", "operation": "removed"
        });
        assert!(matches!(
            SubscriptionEvent::from_json_value(doc),
            Err(EventsError::InvalidDocument { .. })
        ));
        let doc = serde_json::json!({
            "type": "RegexSubscription", "subscription": "x", "operation": "added"
        });
        assert!(matches!(
            SubscriptionEvent::from_json_value(doc),
            Err(EventsError::InvalidField { field: "type", .. })
        ));
    }
}
