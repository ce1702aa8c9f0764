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
    Number(NumberText),
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
        Id::Number(NumberText::from(n))
    }
}

/// The exact JSON text of a numeric id. Up to 23 bytes (every integer id
/// a client makes, and most others) it is kept inline, so that making,
/// cloning and matching ids costs no allocation; longer ones live on the
/// heap. Reads as a `&str`.
///
/// ```
/// use rpc_core::id::NumberText;
/// let n = NumberText::from(42u64);
/// assert_eq!(&*n, "42");
/// assert_eq!(NumberText::from("1e400").as_str(), "1e400");
/// ```
#[derive(Clone)]
pub struct NumberText(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

/// The longest number text kept inline.
const INLINE: usize = 23;

impl NumberText {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always whole UTF-8: copied from a `str`, or ASCII digits.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(text) => text,
        }
    }
}

impl From<&str> for NumberText {
    fn from(text: &str) -> Self {
        if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            NumberText(Repr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            NumberText(Repr::Heap(text.into()))
        }
    }
}

impl From<u64> for NumberText {
    fn from(mut n: u64) -> Self {
        // At most 20 digits: always inline.
        let mut digits = [0; INLINE];
        let mut at = INLINE;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let len = INLINE - at;
        let mut bytes = [0; INLINE];
        bytes[..len].copy_from_slice(&digits[at..]);
        NumberText(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }
}

impl std::ops::Deref for NumberText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for NumberText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NumberText {}

impl std::hash::Hash for NumberText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for NumberText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NumberText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
            Id::Number(n) => match RawValue::from_string(n.as_str().to_owned()) {
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
    fn number_texts_inline_and_on_the_heap() {
        for n in [0u64, 7, 10, 99, 12345, u64::MAX] {
            assert_eq!(NumberText::from(n).as_str(), n.to_string());
            assert_eq!(
                Id::from(n),
                serde_json::from_str::<Id>(&n.to_string()).unwrap()
            );
        }
        let long = "123456789012345678901234567890";
        assert_eq!(NumberText::from(long).as_str(), long);
        assert_eq!(NumberText::from("1.5").as_str(), "1.5");
        assert_eq!(format!("{:?}", Id::from(5u64)), r#"Number("5")"#);
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
