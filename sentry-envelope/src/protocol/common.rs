//! Types shared by several payloads: ids, timestamps, levels, lists.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// Fields a struct does not name, kept as sent.
pub type Other = Map<String, Value>;

/// A 128-bit event id, written as 32 lowercase hex digits.
///
/// Accepts the hyphenated UUID form as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    /// The all-zero id some SDKs send as a placeholder.
    pub fn nil() -> Self {
        EventId(uuid::Uuid::nil())
    }

    /// Whether this is the all-zero id.
    pub fn is_nil(&self) -> bool {
        self.0.is_nil()
    }

    /// Makes an id from 16 random bytes supplied by the caller.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        EventId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_simple().fmt(f)
    }
}

/// An event id that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event id {0:?}: expected 32 hex digits")]
pub struct InvalidEventId(pub String);

impl FromStr for EventId {
    type Err = InvalidEventId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(s)
            .map(EventId)
            .map_err(|_| InvalidEventId(s.to_owned()))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A point in time, with microsecond precision.
///
/// Read from a number of seconds since the epoch or from an RFC 3339 string
/// (without a zone it is UTC); written as a number of seconds, as Sentry
/// stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// From a UTC time; rounded to the microsecond.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        let micros = dt.timestamp_micros();
        Timestamp(DateTime::from_timestamp_micros(micros).unwrap_or(dt))
    }

    /// From seconds since the epoch; `None` when not finite or outside the
    /// years 0 to 9999 (what RFC 3339 can write).
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() {
            return None;
        }
        let micros = (secs * 1_000_000.0).round();
        if micros.abs() > 9.0e18 {
            return None;
        }
        DateTime::from_timestamp_micros(micros as i64).and_then(Self::in_range)
    }

    fn in_range(dt: DateTime<Utc>) -> Option<Self> {
        (0..=9999).contains(&dt.year()).then_some(Timestamp(dt))
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(&self) -> f64 {
        let micros = self.0.timestamp_micros();
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000);
        secs as f64 + frac as f64 / 1_000_000.0
    }

    /// The time as a `chrono` value.
    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Parses an RFC 3339 string, or one without a zone (taken as UTC).
    pub fn parse_str(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Self::in_range(Self::from_datetime(dt.with_timezone(&Utc)).0);
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return Self::in_range(Self::from_datetime(Utc.from_utc_datetime(&naive)).0);
            }
        }
        // Numbers sent as strings.
        text.parse::<f64>().ok().and_then(Self::from_secs_f64)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let secs = self.as_secs_f64();
        if Timestamp::from_secs_f64(secs) == Some(*self) {
            serializer.serialize_f64(secs)
        } else {
            // Far from the epoch a double cannot hold microseconds; the
            // string form is exact.
            serializer.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp (seconds since the epoch or RFC 3339)")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_secs_f64(v).ok_or_else(|| E::custom("timestamp out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_str(v).ok_or_else(|| E::custom(format!("invalid timestamp {v:?}")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The severity of an event or breadcrumb.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// `debug` (also `trace`).
    Debug,
    /// `info` (also `log`).
    Info,
    /// `warning` (also `warn`).
    Warning,
    /// `error`.
    Error,
    /// `fatal` (also `critical`).
    Fatal,
    /// Any other string, kept for normalization to decide.
    Other(String),
}

impl Level {
    /// The name Sentry stores.
    pub fn as_str(&self) -> &str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
            Level::Other(s) => s,
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "debug" | "trace" => Level::Debug,
            "info" | "log" => Level::Info,
            "warning" | "warn" => Level::Warning,
            "error" => Level::Error,
            "fatal" | "critical" => Level::Fatal,
            other => Level::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Level;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a level name or a Python logging level number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Level, E> {
                Ok(Level::from_name(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Level, E> {
                // raven-python sends the `logging` module's numbers.
                Ok(match v {
                    10 => Level::Debug,
                    20 => Level::Info,
                    30 => Level::Warning,
                    40 => Level::Error,
                    50 => Level::Fatal,
                    other => Level::Other(other.to_string()),
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Level, E> {
                Ok(Level::Other(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A list that SDKs send either bare (`[...]`) or wrapped (`{"values": [...]}`).
///
/// Written back in the wrapped form, as Sentry stores it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Values<T> {
    /// The entries.
    pub values: Vec<T>,
    /// Other keys of the wrapper object.
    #[serde(flatten)]
    pub other: Other,
}

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values {
            values: Vec::new(),
            other: Other::new(),
        }
    }
}

impl<T> Values<T> {
    /// Wraps a list.
    pub fn new(values: Vec<T>) -> Self {
        Values {
            values,
            other: Other::new(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Values<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            Bare(Vec<T>),
            Wrapped {
                #[serde(default = "Vec::new")]
                values: Vec<T>,
                #[serde(flatten)]
                other: Other,
            },
        }
        // A null inside a list is a value an SDK failed to send: skip it.
        #[derive(Deserialize)]
        #[serde(transparent)]
        struct Entry<T>(Option<T>);

        Ok(match Form::<Entry<T>>::deserialize(deserializer)? {
            Form::Bare(values) => Values::new(values.into_iter().filter_map(|e| e.0).collect()),
            Form::Wrapped { values, other } => Values {
                values: values.into_iter().filter_map(|e| e.0).collect(),
                other,
            },
        })
    }
}

/// Tags, sent as an object (`{"k": "v"}`) or a list of pairs (`[["k", "v"]]`).
///
/// Values that are not strings (numbers, booleans) are kept as sent; the
/// form is kept too, so a payload is written back as it came.
#[derive(Clone, Debug, PartialEq)]
pub enum Tags {
    /// `{"key": "value", ...}`.
    Map(Map<String, Value>),
    /// `[["key", "value"], ...]`.
    List(Vec<(String, Value)>),
}

impl Default for Tags {
    fn default() -> Self {
        Tags::Map(Map::new())
    }
}

impl Tags {
    /// The tags as key and string value, in order; non-string values are
    /// rendered as JSON, nulls are skipped.
    pub fn iter(&self) -> impl Iterator<Item = (&str, String)> + '_ {
        let render = |v: &Value| match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let pairs: Box<dyn Iterator<Item = (&String, &Value)> + '_> = match self {
            Tags::Map(map) => Box::new(map.iter()),
            Tags::List(list) => Box::new(list.iter().map(|(k, v)| (k, v))),
        };
        pairs.filter_map(move |(k, v)| render(v).map(|v| (k.as_str(), v)))
    }

    /// The value of a tag.
    pub fn get(&self, key: &str) -> Option<String> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        match self {
            Tags::Map(m) => m.len(),
            Tags::List(l) => l.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Tags::Map(map) => map.serialize(serializer),
            Tags::List(list) => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tags as an object or a list of [key, value] pairs")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Tags, A::Error> {
                Map::deserialize(de::value::MapAccessDeserializer::new(map)).map(Tags::Map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tags, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = seq.next_element::<(String, Value)>()? {
                    out.push(pair);
                }
                Ok(Tags::List(out))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A value SDKs send as a string or as a number (ids, thread ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringOrNumber {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
}

impl fmt::Display for StringOrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringOrNumber::Int(i) => i.fmt(f),
            StringOrNumber::Str(s) => s.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_ids() {
        let simple: EventId = "9ec79c33ec9942ab8353589fcb2e04dc".parse().unwrap();
        let hyphen: EventId = "9ec79c33-ec99-42ab-8353-589fcb2e04dc".parse().unwrap();
        assert_eq!(simple, hyphen);
        assert_eq!(hyphen.to_string(), "9ec79c33ec9942ab8353589fcb2e04dc");
        assert!("xyz".parse::<EventId>().is_err());
        assert_eq!(
            serde_json::to_value(simple).unwrap(),
            json!("9ec79c33ec9942ab8353589fcb2e04dc")
        );
    }

    #[test]
    fn timestamps_in_every_form() {
        let expected = Timestamp::from_secs_f64(1_700_000_000.5).unwrap();
        for input in [
            json!(1_700_000_000.5),
            json!("2023-11-14T22:13:20.5Z"),
            json!("2023-11-14T22:13:20.500000+00:00"),
            json!("2023-11-15T00:13:20.5+02:00"),
            json!("2023-11-14T22:13:20.5"),
            json!("1700000000.5"),
        ] {
            let ts: Timestamp = serde_json::from_value(input.clone()).unwrap();
            assert_eq!(ts, expected, "{input}");
        }
        let int: Timestamp = serde_json::from_value(json!(1_700_000_000)).unwrap();
        assert_eq!(serde_json::to_value(int).unwrap(), json!(1_700_000_000.0));
        assert!(serde_json::from_value::<Timestamp>(json!("yesterday")).is_err());
        // Found by fuzzing: far from the epoch, a double loses microseconds.
        let old: Timestamp = serde_json::from_value(json!("1013-11-23T11:13:30.238969Z")).unwrap();
        let written = serde_json::to_value(old).unwrap();
        assert_eq!(written, json!("1013-11-23T11:13:30.238969Z"));
        assert_eq!(serde_json::from_value::<Timestamp>(written).unwrap(), old);
        // Found by fuzzing: years past 9999 cannot be written back.
        assert!(
            serde_json::from_value::<Timestamp>(json!("+14645-01-01T00:00:00.000001")).is_err()
        );
        assert!(serde_json::from_value::<Timestamp>(json!(4.0e11)).is_err());
        assert!(serde_json::from_value::<Timestamp>(json!(1e300)).is_err());
    }

    #[test]
    fn levels() {
        for (input, level) in [
            ("warn", Level::Warning),
            ("critical", Level::Fatal),
            ("log", Level::Info),
        ] {
            assert_eq!(
                serde_json::from_value::<Level>(json!(input)).unwrap(),
                level
            );
        }
        assert_eq!(
            serde_json::from_value::<Level>(json!("loud")).unwrap(),
            Level::Other("loud".into())
        );
        assert_eq!(
            serde_json::from_value::<Level>(json!(40)).unwrap(),
            Level::Error
        );
        assert_eq!(
            serde_json::from_value::<Level>(json!(41)).unwrap(),
            Level::Other("41".into())
        );
    }

    #[test]
    fn values_both_forms() {
        let bare: Values<u32> = serde_json::from_value(json!([1, null, 2])).unwrap();
        let wrapped: Values<u32> = serde_json::from_value(json!({"values": [1, 2]})).unwrap();
        assert_eq!(bare, wrapped);
        let extra: Values<u32> = serde_json::from_value(json!({"values": [1], "x": true})).unwrap();
        assert_eq!(
            serde_json::to_value(&extra).unwrap(),
            json!({"values": [1], "x": true})
        );
    }

    #[test]
    fn tags_both_forms() {
        let map: Tags = serde_json::from_value(json!({"a": "1", "b": 2, "c": null})).unwrap();
        let list: Tags = serde_json::from_value(json!([["a", "1"], ["b", 2]])).unwrap();
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            list.iter().collect::<Vec<_>>()
        );
        assert_eq!(list.get("b").as_deref(), Some("2"));
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!([["a", "1"], ["b", 2]])
        );
        assert!(serde_json::from_value::<Tags>(json!("a=b")).is_err());
    }
}
