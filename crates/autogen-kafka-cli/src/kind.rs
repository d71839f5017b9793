//! [`Kind`]: the event kinds as the command line names them, and [`FormatArg`].

use autogen_kafka::events::{EventKind, Format};

/// The event kinds, named as on the command line and in `events decode` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// `RequestEvent` (RPC request).
    Request,
    /// `ResponseEvent` (RPC response).
    Response,
    /// `RegistrationEvent` (agent registry).
    Registration,
    /// `SubscriptionEvent`.
    Subscription,
    /// The publish `CloudEvent`.
    Publish,
    /// `MemoryEvent`.
    Memory,
    /// `AgentEvent` (streaming agent bridge).
    Agent,
}

impl Kind {
    /// Every kind, in the order Avro decoding tries them when nothing names the kind (the most
    /// constrained layouts first, as the events crate's `decode_any` does).
    pub(crate) const AVRO_GUESS_ORDER: [Self; 7] = [
        Self::Publish,
        Self::Subscription,
        Self::Registration,
        Self::Agent,
        Self::Memory,
        Self::Request,
        Self::Response,
    ];

    /// The command-line name: `request`, `response`, ...
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Registration => "registration",
            Self::Subscription => "subscription",
            Self::Publish => "publish",
            Self::Memory => "memory",
            Self::Agent => "agent",
        }
    }

    /// The events crate's kind.
    pub(crate) const fn event_kind(self) -> EventKind {
        match self {
            Self::Request => EventKind::Request,
            Self::Response => EventKind::Response,
            Self::Registration => EventKind::Registration,
            Self::Subscription => EventKind::Subscription,
            Self::Publish => EventKind::Publish,
            Self::Memory => EventKind::Memory,
            Self::Agent => EventKind::Agent,
        }
    }

    /// The kind of an events crate kind (`None` for a kind this tool does not know yet).
    pub(crate) fn from_event_kind(kind: EventKind) -> Option<Self> {
        Self::AVRO_GUESS_ORDER
            .into_iter()
            .find(|k| k.event_kind() == kind)
    }

    /// Parses a command-line name (`request`) or an upstream class name (`RequestEvent`,
    /// `CloudEvent`), as found in an Avro schema's record name.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::AVRO_GUESS_ORDER
            .into_iter()
            .find(|k| text.eq_ignore_ascii_case(k.name()) || text == k.event_kind().name())
    }
}

/// The record value formats, as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FormatArg {
    /// Confluent framing + JSON (the Python original's format).
    JsonSchema,
    /// JSON without framing.
    Json,
    /// Confluent framing + Avro (autogen-kafka's own Avro schemas).
    Avro,
}

impl FormatArg {
    /// The events crate's format.
    pub(crate) const fn format(self) -> Format {
        match self {
            Self::JsonSchema => Format::JsonSchema,
            Self::Json => Format::Json,
            Self::Avro => Format::Avro,
        }
    }
}

/// Runs `$func::<EventType>($args...)` for the event type of a [`Kind`].
macro_rules! with_event_type {
    ($kind:expr, $func:ident($($arg:expr),* $(,)?)) => {{
        use autogen_kafka::events as ev;
        match $kind {
            $crate::kind::Kind::Request => $func::<ev::RequestEvent>($($arg),*),
            $crate::kind::Kind::Response => $func::<ev::ResponseEvent>($($arg),*),
            $crate::kind::Kind::Registration => $func::<ev::RegistrationEvent>($($arg),*),
            $crate::kind::Kind::Subscription => $func::<ev::SubscriptionEvent>($($arg),*),
            $crate::kind::Kind::Publish => $func::<ev::PublishEvent>($($arg),*),
            $crate::kind::Kind::Memory => $func::<ev::MemoryEvent>($($arg),*),
            $crate::kind::Kind::Agent => $func::<ev::AgentEvent>($($arg),*),
        }
    }};
}
pub(crate) use with_event_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_class_names_parse() {
        for kind in Kind::AVRO_GUESS_ORDER {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            assert_eq!(Kind::parse(kind.event_kind().name()), Some(kind));
            assert_eq!(Kind::from_event_kind(kind.event_kind()), Some(kind));
        }
        assert_eq!(Kind::parse("CloudEvent"), Some(Kind::Publish));
        assert_eq!(Kind::parse("Request"), Some(Kind::Request));
        assert_eq!(Kind::parse("nothing"), None);
    }

    #[test]
    fn format_names_match_the_events_crate() {
        for arg in [FormatArg::JsonSchema, FormatArg::Json, FormatArg::Avro] {
            let name = clap::ValueEnum::to_possible_value(&arg).map(|v| v.get_name().to_owned());
            assert_eq!(name.as_deref(), Some(arg.format().as_str()));
        }
    }
}
