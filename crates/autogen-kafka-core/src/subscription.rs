//! Subscriptions: rules that map a published [`TopicId`] onto the [`AgentId`] that receives it.
//!
//! The rules are autogen-core's: a [`TypeSubscription`] matches topics whose type equals its topic
//! type, a [`TypePrefixSubscription`] matches topics whose type starts with its prefix, and both map
//! a matching topic to the agent `(agent_type, topic.source)`.

use crate::{
    error::{CoreError, Result},
    id::{AgentId, AgentType, TopicId},
};

/// The topic type of autogen-core's default topic and default subscription.
pub const DEFAULT_TOPIC_TYPE: &str = "default";

fn new_subscription_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Matches topics whose type equals `topic_type`; maps them to the agent `agent_type/<topic source>`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, TopicId, TypeSubscription};
///
/// let sub = TypeSubscription::new("news", "reader")?;
/// let topic = TopicId::new("news", "room-1")?;
/// assert!(sub.is_match(&topic));
/// assert_eq!(sub.map_to_agent(&topic)?, AgentId::new("reader", "room-1")?);
/// assert!(!sub.is_match(&TopicId::new("newsletter", "room-1")?));
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeSubscription {
    topic_type: String,
    agent_type: AgentType,
    id: String,
}

impl TypeSubscription {
    /// A subscription with a fresh uuid4 id.
    ///
    /// The topic type is not validated (as in autogen-core): one that is not a valid topic type
    /// simply never matches.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] when `agent_type` is not a valid agent type.
    pub fn new(topic_type: impl Into<String>, agent_type: impl Into<String>) -> Result<Self> {
        Ok(Self {
            topic_type: topic_type.into(),
            agent_type: AgentType::new(agent_type)?,
            id: new_subscription_id(),
        })
    }

    /// The counterpart of autogen-core's `DefaultSubscription`: topic type `"default"`.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] when `agent_type` is not a valid agent type.
    pub fn default_for(agent_type: impl Into<String>) -> Result<Self> {
        Self::new(DEFAULT_TOPIC_TYPE, agent_type)
    }

    /// Replaces the generated id (for subscriptions received from elsewhere).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The subscription's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The topic type this subscription matches.
    #[must_use]
    pub fn topic_type(&self) -> &str {
        &self.topic_type
    }

    /// The type of the agents that receive matching topics.
    #[must_use]
    pub fn agent_type(&self) -> &AgentType {
        &self.agent_type
    }

    /// Whether the topic's type equals this subscription's topic type.
    #[must_use]
    pub fn is_match(&self, topic: &TopicId) -> bool {
        topic.topic_type() == self.topic_type
    }

    /// The agent that receives messages published to `topic`.
    ///
    /// # Errors
    ///
    /// [`CoreError::SubscriptionMismatch`] when the topic does not match.
    pub fn map_to_agent(&self, topic: &TopicId) -> Result<AgentId> {
        map_matching(self.is_match(topic), &self.id, &self.agent_type, topic)
    }
}

/// Matches topics whose type starts with `topic_type_prefix`; maps them to the agent
/// `agent_type/<topic source>`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, TopicId, TypePrefixSubscription};
///
/// let sub = TypePrefixSubscription::new("news.", "reader")?;
/// let topic = TopicId::new("news.sports", "room-1")?;
/// assert!(sub.is_match(&topic));
/// assert_eq!(sub.map_to_agent(&topic)?, AgentId::new("reader", "room-1")?);
/// assert!(!sub.is_match(&TopicId::new("weather", "room-1")?));
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypePrefixSubscription {
    topic_type_prefix: String,
    agent_type: AgentType,
    id: String,
}

impl TypePrefixSubscription {
    /// A subscription with a fresh uuid4 id. The prefix is not validated (an empty prefix matches
    /// every topic).
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] when `agent_type` is not a valid agent type.
    pub fn new(
        topic_type_prefix: impl Into<String>,
        agent_type: impl Into<String>,
    ) -> Result<Self> {
        Ok(Self {
            topic_type_prefix: topic_type_prefix.into(),
            agent_type: AgentType::new(agent_type)?,
            id: new_subscription_id(),
        })
    }

    /// Replaces the generated id (for subscriptions received from elsewhere).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The subscription's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The prefix of the topic types this subscription matches.
    #[must_use]
    pub fn topic_type_prefix(&self) -> &str {
        &self.topic_type_prefix
    }

    /// The type of the agents that receive matching topics.
    #[must_use]
    pub fn agent_type(&self) -> &AgentType {
        &self.agent_type
    }

    /// Whether the topic's type starts with this subscription's prefix.
    #[must_use]
    pub fn is_match(&self, topic: &TopicId) -> bool {
        topic.topic_type().starts_with(&self.topic_type_prefix)
    }

    /// The agent that receives messages published to `topic`.
    ///
    /// # Errors
    ///
    /// [`CoreError::SubscriptionMismatch`] when the topic does not match.
    pub fn map_to_agent(&self, topic: &TopicId) -> Result<AgentId> {
        map_matching(self.is_match(topic), &self.id, &self.agent_type, topic)
    }
}

fn map_matching(
    matches: bool,
    subscription_id: &str,
    agent_type: &AgentType,
    topic: &TopicId,
) -> Result<AgentId> {
    if matches {
        Ok(AgentId::from_parts(agent_type.clone(), topic.source()))
    } else {
        Err(CoreError::SubscriptionMismatch {
            subscription_id: subscription_id.to_owned(),
            topic_id: topic.clone(),
        })
    }
}

/// Any subscription a runtime understands.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, Subscription, TopicId};
///
/// let sub = Subscription::default_for("assistant")?;
/// let topic = TopicId::new("default", "chat-7")?;
/// assert_eq!(sub.map_to_agent(&topic)?, AgentId::new("assistant", "chat-7")?);
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subscription {
    /// Exact topic type match.
    Type(TypeSubscription),
    /// Topic type prefix match.
    TypePrefix(TypePrefixSubscription),
}

impl Subscription {
    /// A [`TypeSubscription`] on the `"default"` topic type (autogen-core's `DefaultSubscription`).
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] when `agent_type` is not a valid agent type.
    pub fn default_for(agent_type: impl Into<String>) -> Result<Self> {
        TypeSubscription::default_for(agent_type).map(Self::Type)
    }

    /// The subscription's id.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Type(s) => s.id(),
            Self::TypePrefix(s) => s.id(),
        }
    }

    /// The type of the agents that receive matching topics.
    #[must_use]
    pub fn agent_type(&self) -> &AgentType {
        match self {
            Self::Type(s) => s.agent_type(),
            Self::TypePrefix(s) => s.agent_type(),
        }
    }

    /// Whether this subscription matches the topic.
    #[must_use]
    pub fn is_match(&self, topic: &TopicId) -> bool {
        match self {
            Self::Type(s) => s.is_match(topic),
            Self::TypePrefix(s) => s.is_match(topic),
        }
    }

    /// The agent that receives messages published to `topic`.
    ///
    /// # Errors
    ///
    /// [`CoreError::SubscriptionMismatch`] when the topic does not match.
    pub fn map_to_agent(&self, topic: &TopicId) -> Result<AgentId> {
        match self {
            Self::Type(s) => s.map_to_agent(topic),
            Self::TypePrefix(s) => s.map_to_agent(topic),
        }
    }

    /// autogen-core's notion of a duplicate: the same id, or the same kind with the same agent type
    /// and the same topic rule. Runtimes reject a subscription equivalent to one they hold.
    #[must_use]
    pub fn is_equivalent(&self, other: &Self) -> bool {
        if self.id() == other.id() {
            return true;
        }
        match (self, other) {
            (Self::Type(a), Self::Type(b)) => {
                a.agent_type == b.agent_type && a.topic_type == b.topic_type
            }
            (Self::TypePrefix(a), Self::TypePrefix(b)) => {
                a.agent_type == b.agent_type && a.topic_type_prefix == b.topic_type_prefix
            }
            _ => false,
        }
    }
}

impl From<TypeSubscription> for Subscription {
    fn from(value: TypeSubscription) -> Self {
        Self::Type(value)
    }
}

impl From<TypePrefixSubscription> for Subscription {
    fn from(value: TypePrefixSubscription) -> Self {
        Self::TypePrefix(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(t: &str, s: &str) -> TopicId {
        TopicId::new(t, s).unwrap()
    }

    #[test]
    fn type_subscription_matches_exact_type_only() {
        let sub = TypeSubscription::new("t1", "a1").unwrap();
        assert!(sub.is_match(&topic("t1", "s1")));
        assert!(!sub.is_match(&topic("t1x", "s1")));
        assert!(!sub.is_match(&topic("t", "s1")));
        assert_eq!(
            sub.map_to_agent(&topic("t1", "s2")).unwrap(),
            AgentId::new("a1", "s2").unwrap()
        );
    }

    #[test]
    fn prefix_subscription_matches_prefixes() {
        let sub = TypePrefixSubscription::new("t1", "a1").unwrap();
        assert!(sub.is_match(&topic("t1", "s")));
        assert!(sub.is_match(&topic("t1SUFFIX", "s")));
        assert!(!sub.is_match(&topic("t", "s")));
        assert!(!sub.is_match(&topic("xt1", "s")));
        assert_eq!(
            sub.map_to_agent(&topic("t1.x", "k")).unwrap(),
            AgentId::new("a1", "k").unwrap()
        );
        let everything = TypePrefixSubscription::new("", "a1").unwrap();
        assert!(everything.is_match(&topic("anything", "s")));
    }

    #[test]
    fn mapping_a_non_matching_topic_fails() {
        let sub: Subscription = TypeSubscription::new("t1", "a1").unwrap().into();
        let err = sub.map_to_agent(&topic("t2", "s")).unwrap_err();
        match err {
            CoreError::SubscriptionMismatch {
                subscription_id,
                topic_id,
            } => {
                assert_eq!(subscription_id, sub.id());
                assert_eq!(topic_id, topic("t2", "s"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let prefix: Subscription = TypePrefixSubscription::new("t1", "a1").unwrap().into();
        assert!(matches!(
            prefix.map_to_agent(&topic("t2", "s")),
            Err(CoreError::SubscriptionMismatch { .. })
        ));
    }

    #[test]
    fn ids_are_fresh_uuids_unless_given() {
        let a = TypeSubscription::new("t", "a").unwrap();
        let b = TypeSubscription::new("t", "a").unwrap();
        assert_ne!(a.id(), b.id());
        assert!(uuid::Uuid::parse_str(a.id()).is_ok());
        assert_eq!(a.with_id("mine").id(), "mine");
    }

    #[test]
    fn invalid_agent_type_is_rejected() {
        assert!(matches!(
            TypeSubscription::new("t", "bad type"),
            Err(CoreError::InvalidAgentId { .. })
        ));
        assert!(matches!(
            TypePrefixSubscription::new("t", ""),
            Err(CoreError::InvalidAgentId { .. })
        ));
    }

    #[test]
    fn default_subscription_uses_the_default_topic_type() {
        let sub = Subscription::default_for("a").unwrap();
        assert!(sub.is_match(&topic("default", "x")));
        assert!(!sub.is_match(&topic("other", "x")));
        assert_eq!(sub.agent_type(), "a");
    }

    #[test]
    fn equivalence_follows_autogen_core() {
        let a: Subscription = TypeSubscription::new("t", "a").unwrap().into();
        let same_rule: Subscription = TypeSubscription::new("t", "a").unwrap().into();
        let same_id: Subscription = TypeSubscription::new("u", "b")
            .unwrap()
            .with_id(a.id())
            .into();
        let other: Subscription = TypeSubscription::new("t", "b").unwrap().into();
        let prefix: Subscription = TypePrefixSubscription::new("t", "a").unwrap().into();
        assert!(a.is_equivalent(&same_rule));
        assert!(a.is_equivalent(&same_id));
        assert!(!a.is_equivalent(&other));
        assert!(!a.is_equivalent(&prefix));
    }
}
