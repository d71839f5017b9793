//! The fleet's subscriptions, fed by the subscription topic.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use autogen_kafka_core::{
    AgentId, Subscription, TopicId, TypePrefixSubscription, TypeSubscription,
};
use autogen_kafka_events::{SubscriptionEvent, SubscriptionOperation, WireSubscription};
use autogen_kafka_streaming::{InboundRecord, OutboundRecord};

use crate::codecs::EventCodecs;
use crate::error::Result;
use crate::headers;

/// One subscription of the fleet and who added it.
#[derive(Debug, Clone)]
struct Entry {
    subscription: Subscription,
    /// The Rust runtime that added it; `None` for subscriptions added by Python runtimes.
    runtime: Option<String>,
}

/// The subscription service: every runtime's subscriptions, applied from the subscription topic.
///
/// `add`/`remove` produce events keyed by the subscription id (so the topic can be compacted); every runtime,
/// including the writer, applies them when it reads them back, so all runtimes converge on one view. Each Rust
/// runtime holds its own subscriptions: replicas of a type each add theirs, and a subscription lapses when the
/// runtime that added it no longer counts, as the caller of [`SubscriptionService::recipients`] judges (the worker
/// runtime: dead for longer than the clean-up grace, when survivors tombstone it). One added by a Python runtime
/// lasts until removed, as upstream.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use autogen_kafka_core::{Subscription, TopicId, TypeSubscription};
/// use autogen_kafka_events::Format;
/// use autogen_kafka_services::{EventCodecs, SubscriptionService};
///
/// let service = SubscriptionService::new("agent_subscriptions", Arc::new(EventCodecs::new(Format::Json)));
/// let subscription: Subscription = TypeSubscription::new("news", "reader")?.into();
/// let record = service.added_record(&subscription, "runtime-1")?;
/// assert_eq!(record.key.as_deref(), Some(subscription.id().as_bytes()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SubscriptionService {
    topic: String,
    codecs: Arc<EventCodecs>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SubscriptionService {
    /// An empty view of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>, codecs: Arc<EventCodecs>) -> Self {
        Self {
            topic: topic.into(),
            codecs,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The record that adds `subscription` on behalf of `runtime_id`.
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError::Codec`] when the event cannot be encoded.
    pub fn added_record(
        &self,
        subscription: &Subscription,
        runtime_id: &str,
    ) -> Result<OutboundRecord> {
        let event = match subscription {
            Subscription::TypePrefix(s) => SubscriptionEvent::added_type_prefix(
                s.id(),
                s.topic_type_prefix(),
                s.agent_type().as_str(),
            ),
            Subscription::Type(s) => {
                SubscriptionEvent::added_type(s.id(), s.topic_type(), s.agent_type().as_str())
            }
            other => {
                return Err(crate::ServicesError::UnsupportedSubscription {
                    id: other.id().to_owned(),
                });
            }
        };
        let value = self.codecs.encode(&self.topic, &event)?;
        Ok(OutboundRecord::new(self.topic.clone(), value)
            .with_key(subscription.id())
            .with_header(headers::RUNTIME, runtime_id))
    }

    /// The record that removes the subscription `id`.
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError::Codec`] when the event cannot be encoded.
    pub fn removed_record(&self, id: &str, runtime_id: &str) -> Result<OutboundRecord> {
        let value = self
            .codecs
            .encode(&self.topic, &SubscriptionEvent::removed(id))?;
        Ok(OutboundRecord::new(self.topic.clone(), value)
            .with_key(id)
            .with_header(headers::RUNTIME, runtime_id))
    }

    /// Whether a subscription with this id is known.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
    }

    /// Every subscription known and the Rust runtime that added it (`None`: a Python runtime), sorted by id.
    #[must_use]
    pub fn subscriptions(&self) -> Vec<(Subscription, Option<String>)> {
        let mut all: Vec<(Subscription, Option<String>)> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|entry| (entry.subscription.clone(), entry.runtime.clone()))
            .collect();
        all.sort_by(|a, b| a.0.id().cmp(b.0.id()));
        all
    }

    /// The ids of the subscriptions `runtime_id` added, sorted: what a survivor tombstones once that runtime died.
    #[must_use]
    pub fn added_by(&self, runtime_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, e)| e.runtime.as_deref() == Some(runtime_id))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The tombstone that removes the subscription `id` from the compacted topic for good.
    #[must_use]
    pub fn tombstone(&self, id: &str) -> OutboundRecord {
        OutboundRecord::tombstone(self.topic.clone(), id)
    }

    /// The agents that must receive a publication on `topic`: one entry per distinct agent id, from the
    /// subscriptions of live Rust runtimes (`is_live` says which are) when `rust_only`, or from those and the
    /// Python runtimes' subscriptions. The sender is excluded. Several runtimes holding equivalent subscriptions
    /// (replicas, a replacement beside a dead runtime's leftovers) give each agent id once.
    #[must_use]
    pub fn recipients(
        &self,
        topic: &TopicId,
        sender: Option<&AgentId>,
        is_live: &dyn Fn(&str) -> bool,
        rust_only: bool,
    ) -> Vec<AgentId> {
        let entries: Vec<Entry> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut recipients = BTreeSet::new();
        for entry in entries {
            let live = match &entry.runtime {
                Some(runtime) => is_live(runtime),
                None => !rust_only,
            };
            if !live || !entry.subscription.is_match(topic) {
                continue;
            }
            match entry.subscription.map_to_agent(topic) {
                Ok(id) if Some(&id) != sender => {
                    recipients.insert(id);
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "subscription cannot map topic"
                ),
            }
        }
        recipients.into_iter().collect()
    }

    /// Applies one record of the subscription topic; undecodable records are logged and skipped.
    pub fn apply(&self, record: &InboundRecord) {
        let Some(value) = record.value.as_deref() else {
            if let Some(key) = record.key_str() {
                self.entries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(key);
            }
            return;
        };
        let event: SubscriptionEvent = match self.codecs.decode_blocking(&record.topic, value) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    offset = record.offset,
                    "skipping an undecodable subscription record"
                );
                return;
            }
        };
        let runtime = record.header_str(headers::RUNTIME).map(str::to_owned);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if event.operation == SubscriptionOperation::Removed {
            entries.remove(event.subscription.id());
            return;
        }
        let id = event.subscription.id().to_owned();
        let added: Result<Subscription, autogen_kafka_core::CoreError> = match event.subscription {
            WireSubscription::Type(s) => TypeSubscription::new(s.topic_type, s.agent_type)
                .map(|sub| sub.with_id(s.id).into()),
            WireSubscription::TypePrefix(s) => {
                TypePrefixSubscription::new(s.topic_type_prefix, s.agent_type)
                    .map(|sub| sub.with_id(s.id).into())
            }
            _ => {
                tracing::warn!(
                    id,
                    "an `added` event without a subscription rule is ignored"
                );
                return;
            }
        };
        match added {
            Ok(subscription) => {
                entries.insert(
                    id,
                    Entry {
                        subscription,
                        runtime,
                    },
                );
            }
            Err(error) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                id,
                "invalid subscription"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use autogen_kafka_core::{
        AgentId, Subscription, TopicId, TypePrefixSubscription, TypeSubscription,
    };
    use autogen_kafka_events::{Format, SubscriptionEvent};
    use autogen_kafka_streaming::OutboundRecord;

    use super::SubscriptionService;
    use crate::codecs::EventCodecs;
    use crate::registry::AgentRegistry;

    use crate::test_support::read_back;

    fn ids(list: Vec<AgentId>) -> Vec<String> {
        list.into_iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn recipients_follow_live_subscriptions_and_skip_the_sender() {
        let codecs = Arc::new(EventCodecs::new(Format::Json));
        let service = SubscriptionService::new("subs", Arc::clone(&codecs));
        let registry = AgentRegistry::new("reg", Arc::clone(&codecs));
        registry.apply(&read_back(
            registry
                .registration_record("a", "live", Duration::from_secs(60))
                .unwrap(),
        ));
        registry.apply(&read_back(
            registry
                .registration_record("c", "dead", Duration::ZERO)
                .unwrap(),
        ));
        let by_type: Subscription = TypeSubscription::new("news", "a").unwrap().into();
        let by_prefix: Subscription = TypePrefixSubscription::new("ne", "b").unwrap().into();
        let of_dead: Subscription = TypeSubscription::new("news", "c").unwrap().into();
        service.apply(&read_back(service.added_record(&by_type, "live").unwrap()));
        service.apply(&read_back(
            service.added_record(&by_prefix, "live").unwrap(),
        ));
        service.apply(&read_back(service.added_record(&of_dead, "dead").unwrap()));
        // A Python runtime's subscription: no runtime header.
        let python = SubscriptionEvent::added_type("py-1", "news", "py");
        let value = codecs.encode("subs", &python).unwrap();
        service.apply(&read_back(OutboundRecord::new("subs", value)));
        service.apply(&read_back(OutboundRecord::new("subs", b"garbage".to_vec())));

        let topic = TopicId::new("news", "world").unwrap();
        let live = |runtime: &str| registry.is_runtime_live(runtime);
        assert_eq!(
            ids(service.recipients(&topic, None, &live, true)),
            ["a/world", "b/world"]
        );
        assert_eq!(
            ids(service.recipients(&topic, None, &live, false)),
            ["a/world", "b/world", "py/world"]
        );
        let sender = AgentId::new("a", "world").unwrap();
        assert_eq!(
            ids(service.recipients(&topic, Some(&sender), &live, true)),
            ["b/world"]
        );
        assert_eq!(service.added_by("dead"), [of_dead.id()]);
        // A replacement's equivalent subscription beside the dead one's: each agent id once.
        let replacement: Subscription = TypeSubscription::new("news", "c").unwrap().into();
        registry.apply(&read_back(
            registry
                .registration_record("c", "new", Duration::from_secs(60))
                .unwrap(),
        ));
        service.apply(&read_back(
            service.added_record(&replacement, "new").unwrap(),
        ));
        assert_eq!(
            ids(service.recipients(&topic, None, &live, true)),
            ["a/world", "b/world", "c/world"]
        );
        service.apply(&read_back(service.tombstone(of_dead.id())));
        assert!(service.added_by("dead").is_empty());
        service.apply(&read_back(
            service.removed_record(replacement.id(), "new").unwrap(),
        ));

        service.apply(&read_back(
            service.removed_record(by_prefix.id(), "live").unwrap(),
        ));
        assert!(!service.contains(by_prefix.id()));
        assert_eq!(
            ids(service.recipients(&topic, None, &live, true)),
            ["a/world"]
        );
        // A tombstone deletes the key as well.
        service.apply(&read_back(OutboundRecord::tombstone("subs", by_type.id())));
        assert!(service.recipients(&topic, None, &live, true).is_empty());
    }
}
