//! Loading: defaults → optional file → `KAFKA_BOOTSTRAP_SERVERS` → `AUTOGEN_KAFKA_*` → builder
//! values, merged with figment.
//!
//! Every layer is normalized before the merge (Python aliases renamed, flat Python keys moved to
//! their section), so a later layer overrides an earlier one whatever spelling each uses. Each
//! layer remembers where its keys came from, so an extraction error names the file or the
//! environment variable that holds the bad value.

mod normalize;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Json, Toml, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use crate::Config;
use crate::error::{ConfigError, ParseError, Result};

/// The default environment variable prefix.
pub(crate) const DEFAULT_ENV_PREFIX: &str = "AUTOGEN_KAFKA_";

/// The unprefixed variable that overrides `kafka.bootstrap_servers`.
pub(crate) const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// A config file format, chosen from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileFormat {
    /// `.toml`
    Toml,
    /// `.yaml` or `.yml`
    Yaml,
    /// `.json`
    Json,
}

impl FileFormat {
    /// The format for `path`'s extension (ignoring case), if it is a known one.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Toml => "TOML",
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        })
    }
}

/// Where a layer's values came from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Env,
    Builder,
}

/// One normalized source of values, with the origin of each key.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    source: Source,
    name: String,
    dict: Dict,
    /// Canonical key path → what the user wrote: the raw key path (file, builder) or the
    /// environment variable name.
    origins: BTreeMap<Vec<String>, String>,
    /// Canonical paths set under their canonical spelling (these win over aliases).
    canonical: BTreeSet<Vec<String>>,
}

impl Layer {
    fn new(source: Source, name: impl Into<String>) -> Self {
        Self {
            source,
            name: name.into(),
            dict: Dict::new(),
            origins: BTreeMap::new(),
            canonical: BTreeSet::new(),
        }
    }

    /// A layer of values set in code; `entries` are raw key paths and values.
    pub(crate) fn builder(entries: &[(Vec<String>, Value)]) -> Self {
        let mut layer = Self::new(Source::Builder, "ConfigBuilder");
        for (path, value) in entries {
            layer.insert(path, value.clone(), path.join("."));
        }
        layer
    }

    /// A layer read from a TOML, YAML or JSON file.
    pub(crate) fn file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::FileNotFound {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::ReadFile {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let format =
            FileFormat::from_path(path).ok_or_else(|| ConfigError::UnsupportedFileFormat {
                path: path.to_owned(),
            })?;
        let dict = parse_file(path, format, &text)?;
        let mut layer = Self::new(
            Source::File(path.to_owned()),
            format!("{format} config file"),
        );
        let mut prefix = Vec::new();
        layer.insert_tree(&mut prefix, dict);
        tracing::debug!(path = %path.display(), %format, keys = layer.origins.len(), "read config file");
        Ok(layer)
    }

    /// The unprefixed `KAFKA_BOOTSTRAP_SERVERS` variable, when set and not blank.
    pub(crate) fn bootstrap_env() -> Option<Self> {
        let servers = std::env::var(BOOTSTRAP_ENV).ok()?;
        if servers.trim().is_empty() {
            return None;
        }
        let mut layer = Self::new(Source::Env, BOOTSTRAP_ENV);
        let path = ["kafka", "bootstrap_servers"].map(str::to_owned);
        layer.insert(&path, Value::from(servers), BOOTSTRAP_ENV.to_owned());
        Some(layer)
    }

    /// Every `<prefix>*` environment variable. Values stay text (no guessing of types), and
    /// every config field accepts text, so `"0123"` stays `"0123"`.
    pub(crate) fn env(prefix: &str) -> Self {
        let mut layer = Self::new(Source::Env, format!("environment variables {prefix}*"));
        for (key, value) in Env::prefixed(prefix).iter() {
            let var = format!("{prefix}{}", key.as_str().to_ascii_uppercase());
            match normalize::env_path(key.as_str()) {
                Some(path) => layer.insert(&path, Value::from(value), var),
                None => {
                    tracing::warn!(%var, "ignoring environment variable with an empty key segment");
                }
            }
        }
        tracing::debug!(%prefix, vars = layer.origins.len(), "read environment variables");
        layer
    }

    /// Walks a parsed file, inserting each leaf under its canonical path.
    fn insert_tree(&mut self, prefix: &mut Vec<String>, dict: Dict) {
        for (key, value) in dict {
            prefix.push(key);
            match value {
                Value::Dict(_, child)
                    if !child.is_empty()
                        && !normalize::is_map_field(&normalize::canonical_path(prefix)) =>
                {
                    self.insert_tree(prefix, child);
                }
                leaf => {
                    let label = prefix.join(".");
                    self.insert(prefix, leaf, label);
                }
            }
            prefix.pop();
        }
    }

    /// Inserts `value` at the canonical form of `raw`. Within one file or environment, a key
    /// under its canonical spelling wins over an alias of it; on a builder the last call wins.
    fn insert(&mut self, raw: &[String], value: Value, label: String) {
        let path = normalize::canonical_path(raw);
        let is_canonical = path.as_slice() == raw;
        if let Some(previous) = self.origins.get(&path)
            && !matches!(self.source, Source::Builder)
        {
            let keep_previous = self.canonical.contains(&path) && !is_canonical;
            let (kept, dropped) = if keep_previous {
                (previous.as_str(), label.as_str())
            } else {
                (label.as_str(), previous.as_str())
            };
            tracing::warn!(
                key = %path.join("."),
                kept,
                dropped,
                source = %self.name,
                "config key given twice, once through an alias"
            );
            if keep_previous {
                return;
            }
        }
        if !insert_at(&mut self.dict, &path, value) {
            // A parent key holds a non-table value; extraction reports that type error.
            return;
        }
        if is_canonical {
            self.canonical.insert(path.clone());
        }
        self.origins.insert(path, label);
    }

    /// What the user wrote for the key at `path` (or its closest parent/child), if this layer
    /// set it.
    fn origin_of(&self, path: &[String]) -> Option<&str> {
        if let Some(label) = self.origins.get(path) {
            return Some(label);
        }
        self.origins
            .iter()
            .find(|(p, _)| p.starts_with(path) || path.starts_with(p))
            .map(|(_, label)| label.as_str())
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let metadata = Metadata::named(self.name.clone());
        match &self.source {
            Source::File(path) => metadata.source(path.as_path()),
            Source::Env | Source::Builder => metadata,
        }
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Sets `path` in `dict`, creating tables on the way and merging tables. Returns false when a
/// parent on the path is not a table.
fn insert_at(dict: &mut Dict, path: &[String], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = dict;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        match entry {
            Value::Dict(_, child) => current = child,
            _ => return false,
        }
    }
    match (current.get_mut(last), value) {
        (Some(Value::Dict(_, existing)), Value::Dict(_, new)) => existing.extend(new),
        (_, value) => {
            current.insert(last.clone(), value);
        }
    }
    true
}

/// Parses a whole file; its top level must be a table (TOML) or mapping (YAML/JSON).
fn parse_file(path: &Path, format: FileFormat, text: &str) -> Result<Dict> {
    if text.trim().is_empty() {
        return Ok(Dict::new());
    }
    let fail =
        |line: Option<usize>, column: Option<usize>, source: ParseError| ConfigError::ParseFile {
            path: path.to_owned(),
            format,
            line,
            column,
            source,
        };
    let value: Value = match format {
        FileFormat::Toml => Toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((None, None), |span| line_column(text, span.start));
            fail(line, column, Box::new(e))
        })?,
        FileFormat::Yaml => Yaml::from_str(text).map_err(|e| {
            let location = e.location();
            fail(
                location.as_ref().map(|l| l.line()),
                location.as_ref().map(|l| l.column()),
                Box::new(e),
            )
        })?,
        FileFormat::Json => {
            Json::from_str(text).map_err(|e| fail(Some(e.line()), Some(e.column()), Box::new(e)))?
        }
    };
    match value {
        Value::Dict(_, dict) => Ok(dict),
        Value::Empty(..) => Ok(Dict::new()),
        _ => Err(fail(Some(1), None, Box::new(NotATable))),
    }
}

/// One-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (Some(line), Some(column))
}

/// The top level of a config file is not a table/mapping.
#[derive(Debug, thiserror::Error)]
#[error("the top level must be a table of sections (kafka, runtime, ...)")]
struct NotATable;

/// The sources to merge, lowest precedence first.
#[derive(Debug, Clone)]
pub(crate) struct Loader {
    pub(crate) file: Option<PathBuf>,
    pub(crate) env_prefix: Option<String>,
    pub(crate) builder: Vec<(Vec<String>, Value)>,
}

impl Loader {
    /// Reads every source, merges them and deserializes the result (not validated).
    pub(crate) fn extract(&self) -> Result<Config> {
        let mut layers = Vec::new();
        if let Some(path) = &self.file {
            layers.push(Layer::file(path)?);
        }
        if let Some(prefix) = &self.env_prefix {
            layers.extend(Layer::bootstrap_env());
            layers.push(Layer::env(prefix));
        }
        layers.push(Layer::builder(&self.builder));

        let figment = layers
            .iter()
            .fold(Figment::new(), |figment, layer| figment.merge(layer));
        figment
            .extract::<Config>()
            .map_err(|error| blame(error, &layers))
    }
}

/// Turns a figment error into a [`ConfigError`] naming the file or variable that set the key.
fn blame(error: figment::Error, layers: &[Layer]) -> ConfigError {
    let path = error.path.clone();
    let key = path.join(".");
    let source = Box::new(error);
    let found = layers
        .iter()
        .rev()
        .find_map(|layer| layer.origin_of(&path).map(|label| (layer, label)));
    match found {
        Some((layer, label)) => match &layer.source {
            Source::File(file) => ConfigError::InvalidFileValue {
                path: file.clone(),
                key,
                source,
            },
            Source::Env => ConfigError::InvalidEnvValue {
                var: label.to_owned(),
                key,
                source,
            },
            Source::Builder => ConfigError::InvalidValue { key, source },
        },
        None => ConfigError::InvalidValue { key, source },
    }
}

#[cfg(test)]
mod tests;
