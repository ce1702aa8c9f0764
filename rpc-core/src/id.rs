//! Request identifiers.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A JSON-RPC request id: a string, a number, or `null`.
///
/// Numbers keep their exact JSON text, so an id such as `-1.5e300` or
/// `123456789012345678901234567890` travels back to the caller byte for byte,
/// with no rounding through `f64` or `i64`.
///
/// ```
/// use rpc_core::Id;
/// let id: Id = serde_json::from_str("12345678901234567890123").unwrap();
/// assert_eq!(serde_json::to_string(&id).unwrap(), "12345678901234567890123");
/// assert_eq!(Id::from(7u64).to_string(), "7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    /// `"id": null`: still a request (it gets an answer), unlike a missing id.
    Null,
    /// A JSON number, kept as its exact text.
    Number(Box<str>),
    /// A JSON string (unescaped).
    Str(String),
}

impl Id {
    /// Classifies the raw JSON text of an `id` member.
    ///
    /// Returns `None` when the value is not a string, number or `null`
    /// (an object, array or boolean makes the request invalid).
    pub fn from_raw(raw: &RawValue) -> Option<Id> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'n' => Some(Id::Null),
            b'-' | b'0'..=b'9' => Some(Id::Number(text.into())),
            b'"' => serde_json::from_str(text).ok().map(Id::Str),
            _ => None,
        }
    }

    /// Whether raw JSON text is acceptable as an id (string, number or `null`).
    pub(crate) fn is_valid_raw(raw: &RawValue) -> bool {
        matches!(
            raw.get().as_bytes().first(),
            Some(b'n' | b'-' | b'0'..=b'9' | b'"')
        )
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id::Number(n.to_string().into())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::Str(s)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::Str(s.to_owned())
    }
}

impl fmt::Display for Id {
    /// Formats the id as JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Null => f.write_str("null"),
            Id::Number(n) => f.write_str(n),
            Id::Str(s) => match serde_json::to_string(s) {
                Ok(json) => f.write_str(&json),
                Err(_) => Err(fmt::Error),
            },
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Null => serializer.serialize_unit(),
            Id::Number(n) => match RawValue::from_string(n.to_string()) {
                Ok(raw) => raw.serialize(serializer),
                Err(e) => Err(serde::ser::Error::custom(e)),
            },
            Id::Str(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Id::from_raw(&raw)
            .ok_or_else(|| de::Error::custom("an id must be a string, a number or null"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_exact_text() {
        for text in [
            "0",
            "-1",
            "1.5",
            "-0.0",
            "1e400",
            "123456789012345678901234567890",
        ] {
            let id: Id = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&id).unwrap(), text);
        }
    }

    #[test]
    fn strings_and_null_round_trip() {
        let id: Id = serde_json::from_str(r#""a\"b""#).unwrap();
        assert_eq!(id, Id::Str("a\"b".into()));
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""a\"b""#);
        let id: Id = serde_json::from_str("null").unwrap();
        assert_eq!(id, Id::Null);
    }

    #[test]
    fn objects_arrays_and_booleans_are_not_ids() {
        for text in ["{}", "[]", "true", "false"] {
            assert!(serde_json::from_str::<Id>(text).is_err(), "{text}");
        }
    }
}
