//! Key aliases: Python spellings and positions mapped to this crate's canonical key paths.
//!
//! The same aliases are declared with `#[serde(alias)]` on the section structs, so a section
//! deserialized directly accepts them too; this module is what lets the loader merge layers that
//! use different spellings, and move keys between sections (a top-level `schema_registry`
//! section, the Python flat security keys of `kafka`).

/// Top-level sections (plus Python's top-level `schema_registry`) an environment variable's
/// first segment may start with.
const SECTIONS: &[&str] = &[
    "schema_registry",
    "serialization",
    "streaming",
    "service",
    "runtime",
    "memory",
    "kafka",
    "agent",
];

/// `kafka.security` keys: alias → canonical.
const SECURITY_ALIASES: &[(&str, &str)] = &[
    ("security_protocol", "protocol"),
    ("security_mechanism", "sasl_mechanism"),
    ("sasl_plain_username", "sasl_username"),
    ("sasl_plain_password", "sasl_password"),
    ("ssl_cert_location", "ssl_certificate_location"),
];

/// Keys of the `kafka` section that belong to `kafka.security` (Python's flat layout).
const FLAT_SECURITY_KEYS: &[&str] = &[
    "security_protocol",
    "security_mechanism",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "ssl_certificate_location",
    "ssl_cert_location",
    "ssl_key_location",
    "ssl_key_password",
];

/// `kafka.schema_registry` keys: alias → canonical.
const SCHEMA_REGISTRY_ALIASES: &[(&str, &str)] = &[
    ("api_key", "username"),
    ("api_secret", "password"),
    ("ssl_cert_location", "ssl_certificate_location"),
];

/// `runtime` keys: alias → canonical.
const RUNTIME_ALIASES: &[(&str, &str)] = &[
    ("request_topic", "runtime_requests"),
    ("response_topic", "runtime_responses"),
];

fn rename(aliases: &[(&str, &str)], key: &str) -> String {
    aliases
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, canonical)| canonical)
        .to_owned()
}

/// The canonical key path for a raw one, e.g. `schema_registry.api_key` →
/// `kafka.schema_registry.username`, `kafka.sasl_plain_password` → `kafka.security.sasl_password`.
pub(crate) fn canonical_path(raw: &[String]) -> Vec<String> {
    let owned = |s: &str| s.to_owned();
    let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
    let (head, tail): (Vec<String>, &[&str]) = match strs.as_slice() {
        ["schema_registry", key, rest @ ..] => (
            vec![
                owned("kafka"),
                owned("schema_registry"),
                rename(SCHEMA_REGISTRY_ALIASES, key),
            ],
            rest,
        ),
        ["schema_registry"] => (vec![owned("kafka"), owned("schema_registry")], &[]),
        ["kafka", "schema_registry", key, rest @ ..] => (
            vec![
                owned("kafka"),
                owned("schema_registry"),
                rename(SCHEMA_REGISTRY_ALIASES, key),
            ],
            rest,
        ),
        ["kafka", "security", key, rest @ ..] => (
            vec![
                owned("kafka"),
                owned("security"),
                rename(SECURITY_ALIASES, key),
            ],
            rest,
        ),
        ["kafka", key, rest @ ..] if FLAT_SECURITY_KEYS.contains(key) => (
            vec![
                owned("kafka"),
                owned("security"),
                rename(SECURITY_ALIASES, key),
            ],
            rest,
        ),
        ["runtime", key, rest @ ..] => (vec![owned("runtime"), rename(RUNTIME_ALIASES, key)], rest),
        other => (Vec::new(), other),
    };
    head.into_iter()
        .chain(tail.iter().map(|s| owned(s)))
        .collect()
}

/// Whether the value at this canonical path is a free-form map (kept whole, not walked).
pub(crate) fn is_map_field(path: &[String]) -> bool {
    matches!(path, [a, b] if a == "kafka" && b == "librdkafka")
}

/// The raw key path of an environment variable, given its lower-cased name without the prefix.
///
/// Segments are split on `__` (`kafka__bootstrap_servers` → `kafka.bootstrap_servers`). The
/// Python original's single-underscore form is accepted too: a first segment that is not a
/// section but starts with `<section>_` is split there (`kafka_group_id` → `kafka.group_id`,
/// `schema_registry_api_key` → `schema_registry.api_key`). librdkafka property names are
/// written with `_` for `.` (`kafka__librdkafka__linger_ms` → `linger.ms`). Returns `None` when
/// a segment is empty.
pub(crate) fn env_path(key: &str) -> Option<Vec<String>> {
    let mut segments: Vec<String> = key.split("__").map(str::to_owned).collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    if !SECTIONS.contains(&segments[0].as_str()) {
        let split = SECTIONS.iter().find_map(|section| {
            let rest = segments[0].strip_prefix(section)?.strip_prefix('_')?;
            (!rest.is_empty()).then(|| ((*section).to_owned(), rest.to_owned()))
        });
        if let Some((section, rest)) = split {
            segments.splice(0..1, [section, rest]);
        }
    }
    if let [kafka, librdkafka, property] = segments.as_mut_slice()
        && kafka == "kafka"
        && librdkafka == "librdkafka"
    {
        *property = property.replace('_', ".");
    }
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    fn canonical(s: &str) -> String {
        canonical_path(&path(s)).join(".")
    }

    #[test]
    fn python_positions_and_spellings_become_canonical() {
        assert_eq!(
            canonical("schema_registry.url"),
            "kafka.schema_registry.url"
        );
        assert_eq!(
            canonical("schema_registry.api_key"),
            "kafka.schema_registry.username"
        );
        assert_eq!(
            canonical("kafka.schema_registry.api_secret"),
            "kafka.schema_registry.password"
        );
        assert_eq!(
            canonical("kafka.sasl_plain_password"),
            "kafka.security.sasl_password"
        );
        assert_eq!(
            canonical("kafka.security_protocol"),
            "kafka.security.protocol"
        );
        assert_eq!(
            canonical("kafka.sasl_mechanism"),
            "kafka.security.sasl_mechanism"
        );
        assert_eq!(
            canonical("kafka.security.security_mechanism"),
            "kafka.security.sasl_mechanism"
        );
        assert_eq!(
            canonical("runtime.request_topic"),
            "runtime.runtime_requests"
        );
        assert_eq!(canonical("agent.request_topic"), "agent.request_topic");
        assert_eq!(canonical("kafka.group_id"), "kafka.group_id");
        assert_eq!(canonical("kafka.librdkafka"), "kafka.librdkafka");
    }

    #[test]
    fn env_keys_split_on_double_underscore_or_python_sections() {
        let env = |k: &str| env_path(k).map(|p| p.join("."));
        assert_eq!(
            env("kafka__bootstrap_servers").as_deref(),
            Some("kafka.bootstrap_servers")
        );
        assert_eq!(
            env("kafka_bootstrap_servers").as_deref(),
            Some("kafka.bootstrap_servers")
        );
        assert_eq!(
            env("schema_registry_api_key").as_deref(),
            Some("schema_registry.api_key")
        );
        assert_eq!(
            env("runtime_publish_topic").as_deref(),
            Some("runtime.publish_topic")
        );
        assert_eq!(
            env("memory_memory_topic").as_deref(),
            Some("memory.memory_topic")
        );
        assert_eq!(
            env("kafka__security__sasl_password").as_deref(),
            Some("kafka.security.sasl_password")
        );
        assert_eq!(
            env("kafka__librdkafka__socket_keepalive_enable").as_deref(),
            Some("kafka.librdkafka.socket.keepalive.enable")
        );
        assert_eq!(env("num_partitions").as_deref(), Some("num_partitions"));
        assert_eq!(env("kafka____x"), None);
    }
}
