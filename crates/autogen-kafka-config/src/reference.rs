//! `docs/configuration.md`, generated from the configuration structs: every key with its environment variable,
//! default and meaning (the field's doc comment). The test fails when the page and the structs disagree; run it
//! with `AUTOGEN_KAFKA_WRITE_DOCS=1` to write the page again.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::Config;
use crate::validate::env_var_name;

/// The sources whose structs make up [`Config`].
const SOURCES: [&str; 9] = [
    include_str!("config.rs"),
    include_str!("kafka.rs"),
    include_str!("worker.rs"),
    include_str!("agent.rs"),
    include_str!("memory.rs"),
    include_str!("streaming.rs"),
    include_str!("service.rs"),
    include_str!("serialization.rs"),
    include_str!("gateway.rs"),
];

/// One field of a configuration struct.
#[derive(Debug, Clone)]
struct Field {
    /// The key as written in files (the serde name).
    key: String,
    /// The Rust type, as written.
    ty: String,
    /// The doc comment, joined into one paragraph.
    doc: String,
}

/// Every `pub struct` of `source` with its `pub` fields, by struct name.
fn structs(source: &str) -> HashMap<String, Vec<Field>> {
    let mut found = HashMap::new();
    let mut lines = source.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("pub struct ")
            .and_then(|rest| rest.strip_suffix(" {"))
        else {
            continue;
        };
        let mut fields = Vec::new();
        let (mut doc, mut attributes) = (Vec::<String>::new(), String::new());
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            if let Some(text) = line.strip_prefix("///") {
                doc.push(text.trim().to_owned());
            } else if line.starts_with("#[") || !attributes.is_empty() && !line.starts_with("pub ")
            {
                attributes.push_str(line);
            } else if let Some((field, ty)) = line
                .strip_prefix("pub ")
                .and_then(|rest| rest.strip_suffix(','))
                .and_then(|rest| rest.split_once(": "))
            {
                if !attributes.contains("skip)") && !attributes.contains("skip,") {
                    let key = renamed(&attributes).unwrap_or_else(|| field.to_owned());
                    fields.push(Field {
                        key,
                        ty: ty.to_owned(),
                        doc: doc.join(" "),
                    });
                }
                doc.clear();
                attributes.clear();
            }
        }
        found.insert(name.to_owned(), fields);
    }
    found
}

/// The `rename = "..."` of a field's serde attributes.
fn renamed(attributes: &str) -> Option<String> {
    let start = attributes.find("rename = \"")? + "rename = \"".len();
    let end = attributes[start..].find('"')?;
    Some(attributes[start..start + end].to_owned())
}

/// The default of `path` in the default configuration, as JSON; `unset` when it has none.
fn default_of(defaults: &serde_json::Value, path: &str) -> String {
    let pointer = format!("/{}", path.replace('.', "/"));
    match defaults.pointer(&pointer) {
        None | Some(serde_json::Value::Null) => "unset".to_owned(),
        Some(serde_json::Value::String(text)) if text.is_empty() => "`\"\"`".to_owned(),
        Some(serde_json::Value::Object(map)) if map.is_empty() => "`{}`".to_owned(),
        Some(value) => format!("`{value}`"),
    }
}

/// The rows of `struct_name`'s fields under `prefix`, nested structs first-level sections of their own.
fn rows(
    all: &HashMap<String, Vec<Field>>,
    struct_name: &str,
    prefix: &str,
    defaults: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) {
    let Some(fields) = all.get(struct_name) else {
        return;
    };
    for field in fields {
        let path = if prefix.is_empty() {
            field.key.clone()
        } else {
            format!("{prefix}.{}", field.key)
        };
        if all.contains_key(&field.ty) {
            rows(all, &field.ty, &path, defaults, out);
            continue;
        }
        let doc = field.doc.replace('|', "\\|");
        out.push((
            path.clone(),
            format!(
                "| `{path}` | `{}` | {} | {doc} |",
                env_var_name("", &path),
                default_of(defaults, &path)
            ),
        ));
    }
}

/// The whole page.
fn render() -> String {
    let mut all = HashMap::new();
    for source in SOURCES {
        all.extend(structs(source));
    }
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut page = String::from(
        "# Configuration reference\n\n\
         Generated from the configuration structs of `crates/autogen-kafka-config` by the test\n\
         `reference::tests::the_reference_page_matches_the_structs` (run it with `AUTOGEN_KAFKA_WRITE_DOCS=1` to\n\
         write it again). Sources, later ones winning: defaults, a TOML/YAML/JSON file, `KAFKA_BOOTSTRAP_SERVERS`,\n\
         the `AUTOGEN_KAFKA_*` variables, then values set in code. `autogen-kafka config check [FILE]` validates a\n\
         configuration and prints it with secrets redacted.\n",
    );
    let Some(sections) = all.get("Config") else {
        return page;
    };
    for section in sections {
        let mut section_rows = Vec::new();
        rows(
            &all,
            &section.ty,
            &section.key,
            &defaults,
            &mut section_rows,
        );
        let _ = write!(
            page,
            "\n## `{}`\n\n{}\n\n| key | environment variable | default | meaning |\n|---|---|---|---|\n",
            section.key, section.doc
        );
        for (_, row) in section_rows {
            page.push_str(&row);
            page.push('\n');
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");

    #[test]
    fn the_reference_page_matches_the_structs() {
        let page = render();
        if std::env::var_os("AUTOGEN_KAFKA_WRITE_DOCS").is_some() {
            std::fs::write(PAGE, &page).unwrap();
        }
        let written = std::fs::read_to_string(PAGE).unwrap_or_default();
        assert!(
            written == page,
            "docs/configuration.md is out of date: run AUTOGEN_KAFKA_WRITE_DOCS=1 cargo nextest run -p \
             autogen-kafka-config -E 'test(the_reference_page_matches_the_structs)'"
        );
    }

    #[test]
    fn every_key_of_the_default_configuration_has_a_documented_row() {
        let page = render();
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut keys = Vec::new();
        collect_leaves(&defaults, "", &mut keys);
        assert!(!keys.is_empty());
        for key in keys {
            // Raw librdkafka properties are a map of their own, one row.
            let key = if key.starts_with("kafka.librdkafka") {
                "kafka.librdkafka".to_owned()
            } else {
                key
            };
            let row = page
                .lines()
                .find(|line| line.starts_with(&format!("| `{key}` |")))
                .unwrap_or_else(|| panic!("no row for {key}"));
            let meaning = row.rsplit('|').nth(1).unwrap_or_default().trim();
            assert!(!meaning.is_empty(), "{key} has no meaning: {row}");
        }
    }

    fn collect_leaves(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() && prefix != "kafka.librdkafka" => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    collect_leaves(value, &path, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
}
