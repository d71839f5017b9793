//! Unique topic and consumer-group names, so tests sharing a broker never see each other's data.

use uuid::Uuid;

/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

/// Length of the random suffix (hex digits of a v4 UUID).
const SUFFIX_LEN: usize = 12;

/// Returns a topic name that starts with `test_name` and ends with a random suffix.
///
/// Characters Kafka does not allow in topic names (anything but ASCII letters, digits, `.`,
/// `_` and `-`) become `-`, so a module path such as `streaming::tests::replay` is fine, and
/// the name is shortened to Kafka's 249-character limit. Two calls never return the same name.
///
/// # Examples
///
/// ```
/// let a = autogen_kafka_testing::unique_topic("replay");
/// let b = autogen_kafka_testing::unique_topic("replay");
/// assert!(a.starts_with("replay-"));
/// assert_ne!(a, b);
/// ```
#[must_use]
pub fn unique_topic(test_name: &str) -> String {
    unique_name(test_name, "")
}

/// Returns a consumer-group id that starts with `test_name` and ends with a random suffix.
///
/// Uses the same character rules as [`unique_topic`], with a `-group` marker so topic and group
/// names are told apart in broker logs. Two calls never return the same id.
///
/// # Examples
///
/// ```
/// let group = autogen_kafka_testing::unique_group("replay");
/// assert!(group.starts_with("replay-group-"));
/// assert_ne!(group, autogen_kafka_testing::unique_group("replay"));
/// ```
#[must_use]
pub fn unique_group(test_name: &str) -> String {
    unique_name(test_name, "-group")
}

/// `<sanitized test_name><marker>-<random suffix>`, at most [`MAX_TOPIC_LEN`] characters.
fn unique_name(test_name: &str, marker: &str) -> String {
    let suffix = Uuid::new_v4().simple().to_string();
    let suffix = suffix.get(..SUFFIX_LEN).unwrap_or(&suffix);
    let mut base: String = test_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if base.is_empty() {
        base.push_str("test");
    }
    // Every character is ASCII now, so truncating by bytes cuts on a character boundary.
    base.truncate(MAX_TOPIC_LEN - marker.len() - 1 - suffix.len());
    format!("{base}{marker}-{suffix}")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn topics_are_unique_per_call() {
        let names: HashSet<String> = (0..1000).map(|_| unique_topic("same")).collect();
        assert_eq!(names.len(), 1000);
    }

    #[test]
    fn groups_are_unique_and_differ_from_topics() {
        let groups: HashSet<String> = (0..1000).map(|_| unique_group("same")).collect();
        assert_eq!(groups.len(), 1000);
        assert!(groups.iter().all(|g| g.starts_with("same-group-")));
    }

    #[test]
    fn names_only_use_legal_topic_characters() {
        let name = unique_topic("streaming::tests::replay (€ case)");
        assert!(
            name.starts_with("streaming--tests--replay----case--"),
            "{name}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "{name}"
        );
    }

    #[test]
    fn long_names_fit_the_topic_length_limit() {
        let long = "x".repeat(1000);
        let topic = unique_topic(&long);
        let group = unique_group(&long);
        assert_eq!(topic.len(), MAX_TOPIC_LEN);
        assert_eq!(group.len(), MAX_TOPIC_LEN);
        assert_ne!(topic, unique_topic(&long));
    }

    #[test]
    fn empty_test_name_still_gives_a_usable_name() {
        let name = unique_topic("");
        assert!(name.starts_with("test-"), "{name}");
        assert_eq!(name.len(), "test-".len() + SUFFIX_LEN);
    }
}
