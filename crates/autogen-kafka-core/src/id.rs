//! Identifiers: [`AgentType`], [`AgentId`] and [`TopicId`], with autogen-core's validation rules.
//!
//! The rules follow autogen-core 0.7 (`_agent_id.py`, `_topic.py`):
//! - an agent type matches `^[\w\-\.]+$`;
//! - a topic type matches `^[\w\-\.\:\=]+$`;
//! - an agent key and a topic source are not validated at all (any text, even empty).
//!
//! `\w` means Unicode word characters. Python's `re` and the `regex` crate agree on letters, digits
//! and `_` in every script; they can differ on rare code points (combining marks, vulgar fractions).
//!
//! The text form is `type/key` (`type/source` for topics). Parsing splits at the FIRST `/`, so a key
//! may itself contain `/`. Serde uses the same text form.

use std::{borrow::Borrow, fmt, str::FromStr, sync::LazyLock};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

#[expect(
    clippy::expect_used,
    reason = "constant pattern, compiled by every test that validates an id"
)]
static AGENT_TYPE_PATTERN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w\-\.]+$").expect("valid agent type pattern"));

#[expect(
    clippy::expect_used,
    reason = "constant pattern, compiled by every test that validates an id"
)]
static TOPIC_TYPE_PATTERN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w\-\.\:\=]+$").expect("valid topic type pattern"));

const AGENT_TYPE_RULE: &str = r"agent type must match ^[\w\-\.]+$";
const TOPIC_TYPE_RULE: &str = r"topic type must match ^[\w\-\.\:\=]+$";
const MISSING_SLASH: &str = "expected the form type/key with a '/'";

/// The type of an agent: the name its factory is registered under (not a Rust type name).
///
/// Valid agent types match `^[\w\-\.]+$` (Unicode word characters, `-` and `.`).
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::AgentType;
///
/// let t = AgentType::new("planner.v2")?;
/// assert_eq!(t, "planner.v2");
/// assert!(AgentType::new("has space").is_err());
/// assert!(AgentType::new("").is_err());
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentType(String);

impl AgentType {
    /// Validates and wraps an agent type.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] when the text does not match `^[\w\-\.]+$`.
    pub fn new(agent_type: impl Into<String>) -> Result<Self> {
        let agent_type = agent_type.into();
        if AGENT_TYPE_PATTERN.is_match(&agent_type) {
            Ok(Self(agent_type))
        } else {
            Err(CoreError::InvalidAgentId {
                value: agent_type,
                reason: AGENT_TYPE_RULE,
            })
        }
    }

    /// The agent type as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AgentType {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl TryFrom<String> for AgentType {
    type Error = CoreError;

    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl TryFrom<&str> for AgentType {
    type Error = CoreError;

    fn try_from(value: &str) -> Result<Self> {
        Self::new(value)
    }
}

impl From<AgentType> for String {
    fn from(value: AgentType) -> Self {
        value.0
    }
}

impl AsRef<str> for AgentType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for AgentType {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for AgentType {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AgentType {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The address of one agent instance: its [`AgentType`] plus a key.
///
/// The key is free text (autogen-core does not restrict it). The text form is `type/key`; parsing
/// splits at the first `/`, so `"a/b/c"` is type `a`, key `b/c`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::AgentId;
///
/// let id = AgentId::new("assistant", "session/42")?;
/// assert_eq!(id.agent_type(), "assistant");
/// assert_eq!(id.key(), "session/42");
/// assert_eq!(id.to_string(), "assistant/session/42");
/// assert_eq!("assistant/session/42".parse::<AgentId>()?, id);
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentId {
    agent_type: AgentType,
    key: String,
}

impl AgentId {
    /// Builds an agent id, validating the agent type.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] when the type does not match `^[\w\-\.]+$`.
    pub fn new(agent_type: impl Into<String>, key: impl Into<String>) -> Result<Self> {
        Ok(Self::from_parts(AgentType::new(agent_type)?, key))
    }

    /// Builds an agent id from an already validated type. Never fails.
    #[must_use]
    pub fn from_parts(agent_type: AgentType, key: impl Into<String>) -> Self {
        Self {
            agent_type,
            key: key.into(),
        }
    }

    /// The agent's type.
    #[must_use]
    pub fn agent_type(&self) -> &AgentType {
        &self.agent_type
    }

    /// The agent's key, which tells instances of one type apart.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.agent_type, self.key)
    }
}

impl FromStr for AgentId {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        let (agent_type, key) = s.split_once('/').ok_or_else(|| CoreError::InvalidAgentId {
            value: s.to_owned(),
            reason: MISSING_SLASH,
        })?;
        Self::new(agent_type, key)
    }
}

impl TryFrom<String> for AgentId {
    type Error = CoreError;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

impl From<AgentId> for String {
    fn from(value: AgentId) -> Self {
        value.to_string()
    }
}

/// The scope of a published message: a topic type plus a source.
///
/// The type matches `^[\w\-\.\:\=]+$` (the CloudEvents `type`); the source is free text (the
/// CloudEvents `source`). Subscriptions map the source to the key of the receiving agent.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::TopicId;
///
/// let topic = TopicId::new("news:sports", "room-1")?;
/// assert_eq!(topic.topic_type(), "news:sports");
/// assert_eq!(topic.source(), "room-1");
/// assert_eq!(topic.to_string().parse::<TopicId>()?, topic);
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicId {
    topic_type: String,
    source: String,
}

impl TopicId {
    /// Builds a topic id, validating the topic type.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidTopicId`] when the type does not match `^[\w\-\.\:\=]+$`.
    pub fn new(topic_type: impl Into<String>, source: impl Into<String>) -> Result<Self> {
        let topic_type = topic_type.into();
        if !TOPIC_TYPE_PATTERN.is_match(&topic_type) {
            return Err(CoreError::InvalidTopicId {
                value: topic_type,
                reason: TOPIC_TYPE_RULE,
            });
        }
        Ok(Self {
            topic_type,
            source: source.into(),
        })
    }

    /// The topic type, matched by subscriptions.
    #[must_use]
    pub fn topic_type(&self) -> &str {
        &self.topic_type
    }

    /// The topic source, which subscriptions turn into the receiving agent's key.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic_type, self.source)
    }
}

impl FromStr for TopicId {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        let (topic_type, source) = s.split_once('/').ok_or_else(|| CoreError::InvalidTopicId {
            value: s.to_owned(),
            reason: MISSING_SLASH,
        })?;
        Self::new(topic_type, source)
    }
}

impl TryFrom<String> for TopicId {
    type Error = CoreError;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

impl From<TopicId> for String {
    fn from(value: TopicId) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn agent_type_accepts_word_characters_dash_and_dot() {
        for ok in [
            "a",
            "Agent_1",
            "my-agent.v2",
            "agent\u{e9}",
            "\u{4ee3}\u{7406}",
            "_",
        ] {
            assert!(AgentType::new(ok).is_ok(), "{ok:?} should be valid");
        }
    }

    #[test]
    fn agent_type_rejects_other_characters_and_empty() {
        for bad in ["", "a b", "a/b", "a:b", "a=b", "a\n", "\na", "a\u{0}", "é!"] {
            let err = AgentType::new(bad).unwrap_err();
            assert!(
                matches!(err, CoreError::InvalidAgentId { ref value, .. } if value == bad),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn topic_type_also_accepts_colon_and_equals() {
        assert!(TopicId::new("a:b=c.d-e_f", "").is_ok());
        for bad in ["", "a b", "a/b", "a\n", "a;b"] {
            assert!(
                matches!(
                    TopicId::new(bad, "s"),
                    Err(CoreError::InvalidTopicId { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn key_and_source_are_not_validated() {
        let id = AgentId::new("a", "").unwrap();
        assert_eq!(id.key(), "");
        let id = AgentId::new("a", "any text / with: symbols\n").unwrap();
        assert_eq!(id.key(), "any text / with: symbols\n");
        let topic = TopicId::new("t", "").unwrap();
        assert_eq!(topic.source(), "");
    }

    #[test]
    fn parsing_splits_at_the_first_slash() {
        let id: AgentId = "type/key/with/slashes".parse().unwrap();
        assert_eq!(id.agent_type(), "type");
        assert_eq!(id.key(), "key/with/slashes");
        let topic: TopicId = "t:x/src/1".parse().unwrap();
        assert_eq!(topic.topic_type(), "t:x");
        assert_eq!(topic.source(), "src/1");
        let empty_key: AgentId = "a/".parse().unwrap();
        assert_eq!(empty_key.key(), "");
    }

    #[test]
    fn parsing_rejects_missing_slash_and_bad_type() {
        assert!(matches!(
            "noslash".parse::<AgentId>(),
            Err(CoreError::InvalidAgentId { .. })
        ));
        assert!(matches!(
            "/key".parse::<AgentId>(),
            Err(CoreError::InvalidAgentId { .. })
        ));
        assert!(matches!(
            "noslash".parse::<TopicId>(),
            Err(CoreError::InvalidTopicId { .. })
        ));
        assert!(matches!(
            "a b/src".parse::<TopicId>(),
            Err(CoreError::InvalidTopicId { .. })
        ));
    }

    #[test]
    fn serde_uses_the_text_form_and_validates() {
        let id = AgentId::new("a", "k/1").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""a/k/1""#);
        assert_eq!(serde_json::from_str::<AgentId>(r#""a/k/1""#).unwrap(), id);
        assert!(serde_json::from_str::<AgentId>(r#""a b/k""#).is_err());
        let topic = TopicId::new("t", "s").unwrap();
        assert_eq!(serde_json::to_string(&topic).unwrap(), r#""t/s""#);
        assert_eq!(serde_json::from_str::<TopicId>(r#""t/s""#).unwrap(), topic);
        let agent_type = AgentType::new("x").unwrap();
        assert_eq!(serde_json::to_string(&agent_type).unwrap(), r#""x""#);
        assert!(serde_json::from_str::<AgentType>(r#""x y""#).is_err());
    }

    #[test]
    fn ids_order_by_type_then_key() {
        let mut ids = [
            AgentId::new("b", "1").unwrap(),
            AgentId::new("a", "2").unwrap(),
            AgentId::new("a", "1").unwrap(),
        ];
        ids.sort();
        let text: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["a/1", "a/2", "b/1"]);
    }

    proptest! {
        #[test]
        fn agent_id_text_round_trip(agent_type in r"[\w\-\.]{1,12}", key in ".{0,24}") {
            let id = AgentId::new(agent_type.clone(), key.clone()).unwrap();
            let parsed: AgentId = id.to_string().parse().unwrap();
            prop_assert_eq!(parsed.agent_type().as_str(), agent_type.as_str());
            prop_assert_eq!(parsed.key(), key.as_str());
            prop_assert_eq!(parsed, id);
        }

        #[test]
        fn topic_id_text_round_trip(topic_type in r"[\w\-\.:=]{1,12}", source in ".{0,24}") {
            let topic = TopicId::new(topic_type, source).unwrap();
            let parsed: TopicId = topic.to_string().parse().unwrap();
            prop_assert_eq!(parsed, topic);
        }

        #[test]
        fn any_text_with_a_slash_parses_or_names_the_bad_type(text in ".{0,8}/.{0,8}") {
            match text.parse::<AgentId>() {
                Ok(id) => prop_assert_eq!(id.to_string(), text),
                Err(CoreError::InvalidAgentId { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}
