//! Lenient serde helpers shared by every config section.
//!
//! Values reach the config from three kinds of sources: typed files (TOML/YAML/JSON), environment
//! variables (always text) and the programmatic builder. Every helper here accepts both the typed
//! form and its textual form, so `group_id: 123` in YAML, `AUTOGEN_KAFKA_KAFKA__GROUP_ID=123` and
//! `AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS=6` all load. Durations are converted here and nowhere else.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::Serializer;
use std::collections::BTreeMap;

/// Accepts a string, or a number / bool / char and renders it as text.
struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A `String` that also accepts numbers and booleans (rendered as text).
#[derive(Debug)]
pub(crate) struct Text(pub(crate) String);

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

/// Lenient `String` field.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)
}

/// Lenient `Option<String>` field.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<Text> = de::Deserialize::deserialize(d)?;
    Ok(value.map(|t| t.0))
}

/// Accepts an integer, an integral float or a string holding an integer.
struct NumberVisitor<T>(PhantomData<T>);

impl<T> Visitor<'_> for NumberVisitor<T>
where
    T: FromStr + TryFrom<u64> + TryFrom<i64>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an integer in the range of {}",
            std::any::type_name::<T>()
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        let integral = v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64;
        if integral {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "checked above: integral and in range"
            )]
            let as_int = v as i64;
            self.visit_i64(as_int)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.trim()
            .parse::<T>()
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }
}

/// Lenient integer field (`u16`, `u32`, `u64`, `usize`, ...).
pub(crate) fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<u64> + TryFrom<i64>,
{
    d.deserialize_any(NumberVisitor(PhantomData))
}

/// Accepts a bool or the text `true`/`false`/`1`/`0` (any case).
struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean (true or false)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        let t = v.trim();
        if t.eq_ignore_ascii_case("true") || t == "1" {
            Ok(true)
        } else if t.eq_ignore_ascii_case("false") || t == "0" {
            Ok(false)
        } else {
            Err(E::invalid_value(Unexpected::Str(v), &self))
        }
    }
}

/// Lenient `bool` field.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// Splits a comma-separated list, trimming entries and dropping empty ones.
pub(crate) fn split_list(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Accepts a list of strings or one comma-separated string.
struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings or a comma-separated string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(split_list(v).collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Text(item)) = seq.next_element::<Text>()? {
            out.extend(split_list(&item));
        }
        Ok(out)
    }
}

/// `Vec<String>` from a list or a comma-separated string.
pub(crate) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(ListVisitor)
}

/// A string → string map whose values may be numbers or booleans (rendered as text).
struct TextMapVisitor;

impl<'de> Visitor<'de> for TextMapVisitor {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of property names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((Text(k), Text(v))) = map.next_entry::<Text, Text>()? {
            out.insert(k, v);
        }
        Ok(out)
    }
}

/// `BTreeMap<String, String>` with lenient values.
pub(crate) fn text_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    d.deserialize_map(TextMapVisitor)
}

/// The one place where durations are converted: `Duration` in the API, integer milliseconds in
/// files and environment variables (`*_ms` keys).
pub(crate) mod duration_ms {
    use super::{Deserializer, Duration, Serializer, number};

    /// Writes a duration as whole milliseconds.
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(to_ms(*d))
    }

    /// Reads whole milliseconds (number or numeric text).
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        number::<D, u64>(d).map(Duration::from_millis)
    }

    /// Whole milliseconds of `d`, saturating at `u64::MAX`.
    pub(crate) fn to_ms(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Defines a config enum that is written as text, read case-insensitively from text (or from a
/// number, for values such as `acks: 1`), with optional aliases.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $canonical:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// The canonical spelling of every variant, as written in config files.
            pub const VARIANTS: &'static [&'static str] = &[$($canonical),+];

            /// The canonical text form, as written in config files.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $canonical,)+
                }
            }

            /// Parses the canonical form or an alias, ignoring ASCII case.
            pub(crate) fn parse(text: &str) -> Option<Self> {
                let text = text.trim();
                $(
                    if text.eq_ignore_ascii_case($canonical)
                        $(|| text.eq_ignore_ascii_case($alias))*
                    {
                        return Some(Self::$variant);
                    }
                )+
                None
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let $crate::de::Text(text) = $crate::de::Text::deserialize(d)?;
                Self::parse(&text).ok_or_else(|| {
                    <D::Error as ::serde::de::Error>::unknown_variant(&text, Self::VARIANTS)
                })
            }
        }
    };
}

pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "string")]
        s: String,
        #[serde(default, deserialize_with = "opt_string")]
        o: Option<String>,
        #[serde(deserialize_with = "number")]
        n: u32,
        #[serde(deserialize_with = "boolean")]
        b: bool,
        #[serde(deserialize_with = "list")]
        l: Vec<String>,
        #[serde(with = "duration_ms")]
        d: Duration,
    }

    #[test]
    fn typed_and_textual_forms_are_both_accepted() {
        let typed: Probe = serde_json::from_value(
            json!({"s": 123, "o": true, "n": 5, "b": false, "l": ["a:1", "b:2"], "d": 1500}),
        )
        .unwrap();
        assert_eq!(typed.s, "123");
        assert_eq!(typed.o.as_deref(), Some("true"));
        assert_eq!(typed.n, 5);
        assert!(!typed.b);
        assert_eq!(typed.l, ["a:1", "b:2"]);
        assert_eq!(typed.d, Duration::from_millis(1500));

        let text: Probe = serde_json::from_value(
            json!({"s": "0123", "n": " 7 ", "b": "TRUE", "l": "a:1, b:2,", "d": "250"}),
        )
        .unwrap();
        assert_eq!(text.s, "0123");
        assert_eq!(text.o, None);
        assert_eq!(text.n, 7);
        assert!(text.b);
        assert_eq!(text.l, ["a:1", "b:2"]);
        assert_eq!(text.d, Duration::from_millis(250));
    }

    #[test]
    fn out_of_range_and_garbage_numbers_are_rejected() {
        let negative = json!({"s": "x", "n": -1, "b": true, "l": "a:1", "d": 1});
        assert!(serde_json::from_value::<Probe>(negative).is_err());
        let fraction = json!({"s": "x", "n": 1.5, "b": true, "l": "a:1", "d": 1});
        assert!(serde_json::from_value::<Probe>(fraction).is_err());
        let word = json!({"s": "x", "n": "many", "b": true, "l": "a:1", "d": 1});
        assert!(serde_json::from_value::<Probe>(word).is_err());
        let bad_bool = json!({"s": "x", "n": 1, "b": "maybe", "l": "a:1", "d": 1});
        assert!(serde_json::from_value::<Probe>(bad_bool).is_err());
    }

    #[test]
    fn durations_serialize_as_whole_milliseconds() {
        assert_eq!(duration_ms::to_ms(Duration::from_micros(2_500)), 2);
        assert_eq!(duration_ms::to_ms(Duration::MAX), u64::MAX);
    }
}
