//! # autogen-kafka-services
//!
//! The services of a worker runtime: the agent manager (instances, lifecycle, activation on
//! first message), the subscription service, the message processor (decode, route,
//! correlate responses) and the agent registry (which runtime hosts which agent types).
//! Services know agents and routing and reach Kafka only through the streaming layer.
//!
//! Built by the Kafka runtime issue; this crate grows as it lands.
