//! The agent registry: which live runtimes host which agent types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use autogen_kafka_events::{RegistrationEvent, RegistrationKind};
use autogen_kafka_streaming::{InboundRecord, OutboundRecord};

use crate::codecs::EventCodecs;
use crate::error::Result;
use crate::headers;
use crate::runtimes::RuntimeDirectory;

/// Who registered a type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Registrant {
    /// A Rust runtime instance, with heartbeats and expiry.
    Runtime(String),
    /// A Python runtime: no heartbeats; live from `register` until `unregister`.
    Python,
}

/// The fleet's registrations, fed by the registry topic.
///
/// Every runtime writes a `register` event for each agent type it hosts when it starts, carrying an expiry
/// header, and `unregister` when it stops. A type is hosted while at least one registration of it is unexpired;
/// a runtime keeps its registrations alive by listing its types in its runtime directory entry, renewed every
/// heartbeat ([`AgentRegistry::with_directory`]), so the entries of a runtime that died lapse on their own.
/// Registrations from Python runtimes (no expiry header) count until they are unregistered, as upstream does.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::Format;
/// use autogen_kafka_services::{AgentRegistry, EventCodecs};
/// use std::sync::Arc;
///
/// let codecs = Arc::new(EventCodecs::new(Format::Json));
/// let registry = AgentRegistry::new("agent_registry", codecs);
/// let record = registry.registration_record("echo", "runtime-1", std::time::Duration::from_secs(10))?;
/// assert_eq!(record.key.as_deref(), Some(&b"echo@runtime-1"[..]));
/// assert!(!registry.is_hosted("echo"), "nothing is known until the record is read back");
/// # Ok::<(), autogen_kafka_services::ServicesError>(())
/// ```
#[derive(Debug)]
pub struct AgentRegistry {
    topic: String,
    codecs: Arc<EventCodecs>,
    /// agent type → registrant → expiry (ms since epoch; `None` = never).
    entries: Mutex<HashMap<String, HashMap<Registrant, Option<i64>>>>,
    /// Runtimes' announcements, which keep their registrations alive past the registrations' own expiry.
    directory: Option<Arc<RuntimeDirectory>>,
}

impl AgentRegistry {
    /// An empty registry view of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>, codecs: Arc<EventCodecs>) -> Self {
        Self {
            topic: topic.into(),
            codecs,
            entries: Mutex::new(HashMap::new()),
            directory: None,
        }
    }

    /// Keeps a Rust runtime's registration of a type alive while `directory` holds an unexpired entry of that
    /// runtime listing the type ([`RuntimeDirectory::announcement_record`]): a runtime renews all its
    /// registrations with one directory record per heartbeat, and writes a registration only when it registers
    /// or withdraws a type.
    #[must_use]
    pub fn with_directory(mut self, directory: Arc<RuntimeDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Whether `registrant`'s registration of `agent_type`, expiring at `expiry`, is live at `now`.
    fn is_live(
        &self,
        agent_type: &str,
        registrant: &Registrant,
        expiry: Option<i64>,
        now: i64,
    ) -> bool {
        expiry.is_none_or(|e| e > now)
            || match (registrant, &self.directory) {
                (Registrant::Runtime(id), Some(directory)) => directory.announces(id, agent_type),
                _ => false,
            }
    }

    /// Whether some live runtime hosts `agent_type`.
    #[must_use]
    pub fn is_hosted(&self, agent_type: &str) -> bool {
        let now = headers::now_ms();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(agent_type).is_some_and(|by| {
            by.iter()
                .any(|(registrant, expiry)| self.is_live(agent_type, registrant, *expiry, now))
        })
    }

    /// Whether the runtime instance `runtime_id` has at least one unexpired registration.
    #[must_use]
    pub fn is_runtime_live(&self, runtime_id: &str) -> bool {
        let now = headers::now_ms();
        let key = Registrant::Runtime(runtime_id.to_owned());
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().any(|(agent_type, by)| {
            by.get(&key)
                .is_some_and(|expiry| self.is_live(agent_type, &key, *expiry, now))
        })
    }

    /// The agent types `runtime_id` registered (live or expired), sorted.
    #[must_use]
    pub fn types_of(&self, runtime_id: &str) -> Vec<String> {
        let key = Registrant::Runtime(runtime_id.to_owned());
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut types: Vec<String> = entries
            .iter()
            .filter(|(_, by)| by.contains_key(&key))
            .map(|(agent_type, _)| agent_type.clone())
            .collect();
        types.sort();
        types
    }

    /// Every registration known, sorted by type then registrant: `(agent type, runtime id or None for a Python
    /// runtime, expiry in ms since the epoch or None for never)`; expired ones included (an operator's view). A
    /// Rust registration's expiry is the later of its own and its runtime's directory entry listing the type.
    #[must_use]
    pub fn registrations(&self) -> Vec<(String, Option<String>, Option<i64>)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(String, Option<String>, Option<i64>)> = entries
            .iter()
            .flat_map(|(agent_type, by)| {
                by.iter().map(move |(registrant, expiry)| match registrant {
                    Registrant::Runtime(id) => {
                        let announced = self
                            .directory
                            .as_ref()
                            .and_then(|d| d.announced_until(id, agent_type));
                        // `None` is "never": nothing extends it.
                        let expiry = expiry.map(|own| announced.map_or(own, |a| own.max(a)));
                        (agent_type.clone(), Some(id.clone()), expiry)
                    }
                    Registrant::Python => (agent_type.clone(), None, *expiry),
                })
            })
            .collect();
        all.sort();
        all
    }

    /// The tombstone that removes `runtime_id`'s registration of `agent_type` from the compacted topic for good.
    #[must_use]
    pub fn tombstone(&self, agent_type: &str, runtime_id: &str) -> OutboundRecord {
        OutboundRecord::tombstone(self.topic.clone(), format!("{agent_type}@{runtime_id}"))
    }

    /// The agent types some live runtime hosts, sorted.
    #[must_use]
    pub fn hosted_types(&self) -> Vec<String> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut types: Vec<String> = entries.keys().cloned().collect();
        drop(entries);
        types.retain(|t| self.is_hosted(t));
        types.sort();
        types
    }

    /// The record announcing that `runtime_id` hosts `agent_type` for the next `ttl`.
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError::Codec`] when the event cannot be encoded.
    pub fn registration_record(
        &self,
        agent_type: &str,
        runtime_id: &str,
        ttl: std::time::Duration,
    ) -> Result<OutboundRecord> {
        let event = RegistrationEvent::register(agent_type);
        let value = self.codecs.encode(&self.topic, &event)?;
        let expires =
            headers::now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        Ok(OutboundRecord::new(self.topic.clone(), value)
            .with_key(format!("{agent_type}@{runtime_id}"))
            .with_header(headers::RUNTIME, runtime_id)
            .with_header(headers::EXPIRES_MS, expires.to_string()))
    }

    /// The record withdrawing `runtime_id`'s registration of `agent_type`.
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError::Codec`] when the event cannot be encoded.
    pub fn unregistration_record(
        &self,
        agent_type: &str,
        runtime_id: &str,
    ) -> Result<OutboundRecord> {
        let event = RegistrationEvent::unregister(agent_type);
        let value = self.codecs.encode(&self.topic, &event)?;
        Ok(OutboundRecord::new(self.topic.clone(), value)
            .with_key(format!("{agent_type}@{runtime_id}"))
            .with_header(headers::RUNTIME, runtime_id))
    }

    /// Applies one record of the registry topic. Undecodable records are logged and skipped: the registry is a
    /// view, and one bad record must not hide the others.
    pub fn apply(&self, record: &InboundRecord) {
        let Some(value) = record.value.as_deref() else {
            // A tombstone of a Rust runtime's registration (`<type>@<runtime>`) removes it.
            if let Some((agent_type, runtime_id)) =
                record.key_str().and_then(|k| k.rsplit_once('@'))
            {
                let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(by) = entries.get_mut(agent_type) {
                    by.remove(&Registrant::Runtime(runtime_id.to_owned()));
                    if by.is_empty() {
                        entries.remove(agent_type);
                    }
                }
            }
            return;
        };
        let event: RegistrationEvent = match self.codecs.decode_blocking(&record.topic, value) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    partition = record.partition,
                    offset = record.offset,
                    "skipping an undecodable registry record"
                );
                return;
            }
        };
        self.apply_event(
            event,
            record.header_str(headers::RUNTIME),
            record.header_str(headers::EXPIRES_MS),
        );
    }

    /// Applies a record this runtime wrote (from [`AgentRegistry::registration_record`] or
    /// [`AgentRegistry::unregistration_record`]) once the broker acknowledged it, so the runtime's own view has it
    /// without waiting to read it back. Reading it back later applies it again, which changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_events::Format;
    /// use autogen_kafka_services::{AgentRegistry, EventCodecs};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let registry = AgentRegistry::new("agent_registry", Arc::new(EventCodecs::new(Format::Json)));
    /// let record = registry.registration_record("echo", "runtime-1", Duration::from_secs(10))?;
    /// // ... written and acknowledged ...
    /// registry.apply_written(&record);
    /// assert!(registry.is_hosted("echo") && registry.is_runtime_live("runtime-1"));
    /// # Ok::<(), autogen_kafka_services::ServicesError>(())
    /// ```
    pub fn apply_written(&self, record: &OutboundRecord) {
        let Some(value) = record.value.as_deref() else {
            return;
        };
        match self
            .codecs
            .decode::<RegistrationEvent>(&record.topic, value)
        {
            Ok(event) => self.apply_event(
                event,
                record.header_str(headers::RUNTIME),
                record.header_str(headers::EXPIRES_MS),
            ),
            Err(error) => tracing::error!(
                error = &error as &dyn std::error::Error,
                "an own registry record does not decode"
            ),
        }
    }

    fn apply_event(&self, event: RegistrationEvent, runtime: Option<&str>, expires: Option<&str>) {
        let registrant =
            runtime.map_or(Registrant::Python, |id| Registrant::Runtime(id.to_owned()));
        let expiry = expires.and_then(|v| v.parse::<i64>().ok());
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let by = entries.entry(event.agent).or_default();
        match event.message_type {
            RegistrationKind::Register => {
                by.insert(registrant, expiry);
            }
            RegistrationKind::Unregister => {
                by.remove(&registrant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use autogen_kafka_events::{Format, RegistrationEvent};
    use autogen_kafka_streaming::OutboundRecord;

    use super::AgentRegistry;
    use crate::codecs::EventCodecs;

    use crate::test_support::read_back;

    #[test]
    fn registrations_expire_and_unregister() {
        let registry =
            AgentRegistry::new("agent_registry", Arc::new(EventCodecs::new(Format::Json)));
        registry.apply(&read_back(
            registry
                .registration_record("echo", "a", Duration::from_secs(60))
                .unwrap(),
        ));
        registry.apply(&read_back(
            registry
                .registration_record("echo", "b", Duration::ZERO)
                .unwrap(),
        ));
        assert!(registry.is_hosted("echo"));
        assert!(registry.is_runtime_live("a"));
        assert!(
            !registry.is_runtime_live("b"),
            "b's registration expired at once"
        );
        registry.apply(&read_back(
            registry.unregistration_record("echo", "a").unwrap(),
        ));
        assert!(!registry.is_hosted("echo"), "a unregistered and b expired");
        assert!(registry.hosted_types().is_empty());
        assert_eq!(registry.types_of("b"), ["echo"]);
        registry.apply(&read_back(registry.tombstone("echo", "b")));
        assert!(registry.types_of("b").is_empty());
    }

    #[test]
    fn python_registrations_never_expire_and_garbage_is_skipped() {
        let codecs = Arc::new(EventCodecs::new(Format::Json));
        let registry = AgentRegistry::new("agent_registry", Arc::clone(&codecs));
        let python = OutboundRecord::new(
            "agent_registry",
            codecs
                .encode("agent_registry", &RegistrationEvent::register("py_agent"))
                .unwrap(),
        )
        .with_key("py_agent");
        registry.apply(&read_back(python));
        registry.apply(&read_back(OutboundRecord::new(
            "agent_registry",
            b"garbage".to_vec(),
        )));
        assert!(registry.is_hosted("py_agent"));
        assert_eq!(registry.hosted_types(), vec!["py_agent".to_owned()]);
    }

    #[test]
    fn a_runtimes_directory_entry_keeps_its_registrations_alive_past_their_expiry() {
        let directory = Arc::new(crate::RuntimeDirectory::new("agent_runtimes"));
        let registry =
            AgentRegistry::new("agent_registry", Arc::new(EventCodecs::new(Format::Json)))
                .with_directory(Arc::clone(&directory));
        for agent_type in ["echo", "relay"] {
            registry.apply(&read_back(
                registry
                    .registration_record(agent_type, "a", Duration::ZERO)
                    .unwrap(),
            ));
        }
        assert!(
            !registry.is_hosted("echo"),
            "expired, and nothing announced"
        );
        // The runtime's heartbeat lists one of its types.
        let heartbeat = directory
            .announcement_record(
                "a",
                "replies.a",
                &["echo".to_owned()],
                Duration::from_secs(60),
            )
            .unwrap();
        directory.apply(&read_back(heartbeat));
        assert!(registry.is_hosted("echo"));
        assert!(!registry.is_hosted("relay"), "not listed");
        assert!(registry.is_runtime_live("a"));
        assert_eq!(registry.hosted_types(), ["echo"]);
        let until = directory.announced_until("a", "echo");
        assert!(until.is_some());
        assert!(
            registry
                .registrations()
                .iter()
                .any(|(t, runtime, expiry)| t == "echo"
                    && runtime.as_deref() == Some("a")
                    && *expiry == until)
        );
        // An announcement alone registers nothing.
        let other = directory
            .announcement_record(
                "b",
                "replies.b",
                &["planner".to_owned()],
                Duration::from_secs(60),
            )
            .unwrap();
        directory.apply(&read_back(other));
        assert!(!registry.is_hosted("planner"));
        // The runtime stops: its entry goes, its registrations lapse.
        directory.apply(&read_back(directory.tombstone("a")));
        assert!(!registry.is_hosted("echo"));
        assert!(!registry.is_runtime_live("a"));
    }
}
