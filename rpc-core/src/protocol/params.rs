//! Decoding of `params`: positional arrays and named objects, for every method.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::ErrorObject;

/// The `params` member of a request, borrowed from the request bytes.
///
/// A missing `params`, `[]` and `{}` all mean "no parameters".
#[derive(Clone, Copy, Debug, Default)]
pub struct Params<'a> {
    raw: Option<&'a RawValue>,
}

impl<'a> Params<'a> {
    /// Wraps the raw `params` member (an array or object; `None` when absent).
    pub fn new(raw: Option<&'a RawValue>) -> Self {
        Params { raw }
    }

    /// The raw JSON text of `params`, if present.
    pub fn raw(&self) -> Option<&'a RawValue> {
        self.raw
    }

    /// Decodes the whole `params` value into one type (for hand-written handlers).
    ///
    /// Missing params decode as JSON `null`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ErrorObject> {
        let text = self.raw.map_or("null", RawValue::get);
        serde_json::from_str(text).map_err(ErrorObject::invalid_params)
    }

    /// Prepares to decode parameters named `names`, in declaration order, from
    /// either a positional array or a named object.
    ///
    /// Fails with -32602 when an array holds more values than there are
    /// parameters, or an object names a parameter that does not exist.
    ///
    /// ```
    /// use rpc_core::Params;
    /// let raw = serde_json::from_str::<&serde_json::value::RawValue>(r#"{"b":2,"a":1}"#).unwrap();
    /// let mut p = Params::new(Some(raw)).decoder(&["a", "b", "c"]).unwrap();
    /// assert_eq!(p.required::<i64>(0).unwrap(), 1);
    /// assert_eq!(p.required::<i64>(1).unwrap(), 2);
    /// assert_eq!(p.optional::<i64>(2).unwrap(), None);
    /// ```
    pub fn decoder(
        &self,
        names: &'static [&'static str],
    ) -> Result<ParamsDecoder<'a>, ErrorObject> {
        let mut slots = Slots::new(names.len());
        if let Some(raw) = self.raw {
            let text = raw.get();
            let mut de = serde_json::Deserializer::from_str(text);
            let filler = SlotFiller {
                names,
                slots: slots.as_mut_slice(),
            };
            match text.as_bytes().first() {
                Some(b'[') => de.deserialize_seq(filler),
                Some(b'{') => de.deserialize_map(filler),
                _ => Err(de::Error::custom("params must be an array or an object")),
            }
            .map_err(|e| ErrorObject::invalid_params(describe(&e)))?;
        }
        Ok(ParamsDecoder {
            names,
            source: Source::Slots(slots),
        })
    }

    /// Prepares to decode parameters named `names` one after the other, in
    /// declaration order (what `#[rpc]` generates): a positional array is
    /// read once, each value decoded straight into its type where it
    /// stands, so a large value is scanned once instead of being found
    /// first and decoded after. [`finish`](ParamsDecoder::finish) then
    /// refuses values left over. A named object, or parameters asked for
    /// in another order, are read as [`decoder`](Self::decoder) reads them.
    ///
    /// ```
    /// use rpc_core::Params;
    /// let raw = serde_json::from_str::<&serde_json::value::RawValue>(r#"[1, "two"]"#).unwrap();
    /// let mut p = Params::new(Some(raw)).decoder_in_order(&["a", "b", "c"]).unwrap();
    /// assert_eq!(p.required::<i64>(0).unwrap(), 1);
    /// assert_eq!(p.required::<String>(1).unwrap(), "two");
    /// assert_eq!(p.optional::<i64>(2).unwrap(), None);
    /// assert!(p.finish().is_ok());
    ///
    /// let raw = serde_json::from_str::<&serde_json::value::RawValue>("[1, 2, 3]").unwrap();
    /// let mut p = Params::new(Some(raw)).decoder_in_order(&["a", "b"]).unwrap();
    /// assert_eq!(p.required::<i64>(0).unwrap() + p.required::<i64>(1).unwrap(), 3);
    /// assert!(p.finish().unwrap_err().message.contains("too many parameters"));
    /// ```
    pub fn decoder_in_order(
        &self,
        names: &'static [&'static str],
    ) -> Result<ParamsDecoder<'a>, ErrorObject> {
        match self.raw {
            Some(raw) if raw.get().starts_with('[') => Ok(ParamsDecoder {
                names,
                source: Source::Sequence(Sequence::new(raw.get())),
            }),
            _ => self.decoder(names),
        }
    }
}

/// Per-parameter access to decoded `params`, made by [`Params::decoder`]
/// or [`Params::decoder_in_order`].
#[derive(Debug)]
pub struct ParamsDecoder<'a> {
    names: &'static [&'static str],
    source: Source<'a>,
}

/// Where the parameters' values are read from.
#[derive(Debug)]
enum Source<'a> {
    /// Each parameter's raw value, found up front.
    Slots(Slots<'a>),
    /// A positional array, read as its values are decoded.
    Sequence(Sequence<'a>),
}

/// A positional array read in order: each value is decoded where it
/// stands, in the one pass that also finds where it ends.
#[derive(Debug)]
struct Sequence<'a> {
    /// The array's text (valid JSON: the message parser read it).
    text: &'a str,
    /// Where the next value starts, or the closing `]`.
    at: usize,
    /// Values taken so far: the index of the next one.
    taken: usize,
    /// A value could not be decoded: where the next one starts is unknown.
    lost: bool,
}

impl<'a> Sequence<'a> {
    fn new(text: &'a str) -> Self {
        let mut sequence = Sequence {
            text,
            at: 1,
            taken: 0,
            lost: false,
        };
        sequence.skip_whitespace();
        sequence
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or("")
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    /// Decodes the next value; `None` past the last one, or for `null` when
    /// `optional`.
    fn next<T: DeserializeOwned>(
        &mut self,
        name: &str,
        optional: bool,
    ) -> Result<Option<T>, ErrorObject> {
        let rest = self.rest();
        if rest.starts_with(']') {
            return Ok(None);
        }
        self.taken += 1;
        let value = if optional && rest.starts_with("null") {
            self.at += "null".len();
            None
        } else {
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
            match values.next() {
                Some(Ok(value)) => {
                    self.at += values.byte_offset();
                    Some(value)
                }
                Some(Err(e)) => {
                    self.lost = true;
                    return Err(decode_error(name, &e));
                }
                None => {
                    self.lost = true;
                    return Ok(None);
                }
            }
        };
        // Past the value's comma, or at the closing bracket.
        self.skip_whitespace();
        match self.rest().as_bytes().first() {
            Some(b',') => {
                self.at += 1;
                self.skip_whitespace();
            }
            Some(b']') => {}
            _ => self.lost = true,
        }
        Ok(value)
    }
}

fn missing(name: &str) -> ErrorObject {
    ErrorObject::invalid_params(format_args!("missing required parameter `{name}`"))
        .with_data(serde_json::json!({ "param": name }))
}

fn too_many(expected: usize, got: usize) -> ErrorObject {
    ErrorObject::invalid_params(format_args!(
        "too many parameters: expected at most {expected}, got {got}"
    ))
}

/// Parameters kept in place for the usual handful, on the heap beyond.
#[derive(Debug)]
enum Slots<'a> {
    Inline([Option<&'a RawValue>; INLINE_PARAMS]),
    Heap(Vec<Option<&'a RawValue>>),
}

/// Methods with up to this many parameters decode without allocating.
const INLINE_PARAMS: usize = 8;

impl<'a> Slots<'a> {
    fn new(len: usize) -> Self {
        if len <= INLINE_PARAMS {
            Slots::Inline([None; INLINE_PARAMS])
        } else {
            Slots::Heap(vec![None; len])
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Option<&'a RawValue>] {
        match self {
            Slots::Inline(array) => array,
            Slots::Heap(vec) => vec,
        }
    }
}

impl ParamsDecoder<'_> {
    /// Decodes required parameter number `index`; -32602 naming it when it is
    /// missing or has the wrong type.
    pub fn required<T: DeserializeOwned>(&mut self, index: usize) -> Result<T, ErrorObject> {
        let name = self.name(index);
        if let Some(sequence) = self.sequence_at(index)? {
            return sequence.next(name, false)?.ok_or_else(|| missing(name));
        }
        match self.take(index) {
            Some(raw) => decode(name, raw),
            None => Err(missing(name)),
        }
    }

    /// Decodes optional parameter number `index`: missing or `null` is `None`.
    pub fn optional<T: DeserializeOwned>(
        &mut self,
        index: usize,
    ) -> Result<Option<T>, ErrorObject> {
        let name = self.name(index);
        if let Some(sequence) = self.sequence_at(index)? {
            return sequence.next(name, true);
        }
        match self.take(index) {
            Some(raw) if raw.get() != "null" => decode(name, raw).map(Some),
            _ => Ok(None),
        }
    }

    /// After the last parameter: -32602 when a positional array read in
    /// order ([`Params::decoder_in_order`]) holds more values than there
    /// are parameters. (A decoder made by [`Params::decoder`] checked that
    /// up front.)
    pub fn finish(self) -> Result<(), ErrorObject> {
        let Source::Sequence(sequence) = self.source else {
            return Ok(());
        };
        if !sequence.lost && sequence.rest().starts_with(']') {
            return Ok(());
        }
        // Values are left (or where they end was lost): count them all.
        let got = serde_json::from_str::<Vec<IgnoredAny>>(sequence.text)
            .map_or(usize::MAX, |values| values.len());
        if got > self.names.len() {
            return Err(too_many(self.names.len(), got));
        }
        Ok(())
    }

    fn name(&self, index: usize) -> &'static str {
        self.names.get(index).copied().unwrap_or("?")
    }
}

impl<'a> ParamsDecoder<'a> {
    /// The array being read in order, when parameter `index` is its next
    /// value; any other access reads the values up front instead, those
    /// taken so far staying taken.
    fn sequence_at(&mut self, index: usize) -> Result<Option<&mut Sequence<'a>>, ErrorObject> {
        let Source::Sequence(sequence) = &mut self.source else {
            return Ok(None);
        };
        if !sequence.lost && sequence.taken == index {
            // Reborrowed for the caller (the borrow checker cannot see
            // that the early return ends the first one).
            let Source::Sequence(sequence) = &mut self.source else {
                return Ok(None);
            };
            return Ok(Some(sequence));
        }
        let (text, taken) = (sequence.text, sequence.taken);
        let mut slots = Slots::new(self.names.len());
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_seq(SlotFiller {
            names: self.names,
            slots: slots.as_mut_slice(),
        })
        .map_err(|e| ErrorObject::invalid_params(describe(&e)))?;
        for slot in slots.as_mut_slice().iter_mut().take(taken) {
            *slot = None;
        }
        self.source = Source::Slots(slots);
        Ok(None)
    }

    /// Parameter number `index`'s raw value, taken (each is decoded once).
    fn take(&mut self, index: usize) -> Option<&'a RawValue> {
        match &mut self.source {
            Source::Slots(slots) => slots.as_mut_slice().get_mut(index).and_then(Option::take),
            Source::Sequence(_) => None,
        }
    }
}

fn decode<T: DeserializeOwned>(name: &str, raw: &RawValue) -> Result<T, ErrorObject> {
    serde_json::from_str(raw.get()).map_err(|e| decode_error(name, &e))
}

fn decode_error(name: &str, e: &serde_json::Error) -> ErrorObject {
    ErrorObject::invalid_params(format_args!("parameter `{name}`: {}", describe(e)))
        .with_data(serde_json::json!({ "param": name }))
}

/// What serde says, in words a caller can act on: a `\u` escape that is a
/// lone UTF-16 surrogate is valid JSON but no Unicode text, and serde calls
/// it "unexpected end of hex escape" or "lone leading surrogate".
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let text = strip_position(e);
    if text.contains("surrogate") || text.contains("hex escape") || text.contains("code point") {
        "a string is not valid Unicode: it holds a lone UTF-16 surrogate escape \
         (such as \"\\ud800\" without its low half), which no Rust string can hold"
            .to_owned()
    } else {
        text
    }
}

/// serde_json appends " at line 1 column 7", which points into the param's
/// own text, not the request; drop it.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

/// Fills one slot per declared parameter straight from the JSON, so a call
/// costs one small vector and no map.
struct SlotFiller<'s, 'a> {
    names: &'static [&'static str],
    slots: &'s mut [Option<&'a RawValue>],
}

impl<'de, 's> Visitor<'de> for SlotFiller<'s, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array or object of parameters")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut count = 0;
        while let Some(value) = seq.next_element::<&'de RawValue>()? {
            if let Some(slot) = self.slots.get_mut(count) {
                *slot = Some(value);
            }
            count += 1;
        }
        if count > self.names.len() {
            return Err(de::Error::custom(format_args!(
                "too many parameters: expected at most {}, got {count}",
                self.names.len()
            )));
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let Some(index) = self.names.iter().position(|n| *n == key) else {
                return Err(de::Error::custom(format_args!(
                    "unknown parameter `{key}`; expected one of: {}",
                    self.names.join(", ")
                )));
            };
            let value = map.next_value::<&'de RawValue>()?;
            if self
                .slots
                .get_mut(index)
                .and_then(|slot| slot.replace(value))
                .is_some()
            {
                return Err(de::Error::custom(format_args!(
                    "parameter `{key}` given twice"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn positional_and_named_decode_alike() {
        for text in ["[1, \"x\"]", r#"{"s":"x","n":1}"#] {
            let mut p = Params::new(Some(raw(text))).decoder(&["n", "s"]).unwrap();
            assert_eq!(p.required::<i64>(0).unwrap(), 1);
            assert_eq!(p.required::<String>(1).unwrap(), "x");
        }
    }

    #[test]
    fn missing_parameter_is_named() {
        let mut p = Params::new(Some(raw("[1]"))).decoder(&["a", "b"]).unwrap();
        p.required::<i64>(0).unwrap();
        let e = p.required::<i64>(1).unwrap_err();
        assert_eq!(e.code, -32602);
        assert!(e.message.contains("`b`"), "{}", e.message);
    }

    #[test]
    fn wrong_type_is_named() {
        let mut p = Params::new(Some(raw(r#"{"a":"x"}"#)))
            .decoder(&["a"])
            .unwrap();
        let e = p.required::<i64>(0).unwrap_err();
        assert!(
            e.message
                .contains("parameter `a`: invalid type: string \"x\""),
            "{}",
            e.message
        );
        assert!(!e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn too_many_positional_is_rejected() {
        let e = Params::new(Some(raw("[1,2,3]")))
            .decoder(&["a", "b"])
            .unwrap_err();
        assert!(
            e.message
                .contains("too many parameters: expected at most 2, got 3"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_and_repeated_names_are_rejected() {
        let e = Params::new(Some(raw(r#"{"z":1}"#)))
            .decoder(&["a"])
            .unwrap_err();
        assert!(e.message.contains("unknown parameter `z`"), "{}", e.message);
        let e = Params::new(Some(raw(r#"{"a":1,"a":2}"#)))
            .decoder(&["a"])
            .unwrap_err();
        assert!(e.message.contains("given twice"), "{}", e.message);
    }

    #[test]
    fn lone_surrogates_are_named_as_such() {
        for text in [
            r#"["\ud800"]"#,
            r#"["a\udc00b"]"#,
            r#"["\ud800\u0041"]"#,
            r#"{"s":"\ud800x"}"#,
        ] {
            let mut p = Params::new(Some(raw(text))).decoder(&["s"]).unwrap();
            let e = p.required::<String>(0).unwrap_err();
            assert_eq!(e.code, -32602);
            assert!(
                e.message
                    .contains("parameter `s`: a string is not valid Unicode"),
                "{text}: {}",
                e.message
            );
            assert!(e.message.contains("lone UTF-16 surrogate"), "{}", e.message);
        }
        // A valid pair is fine.
        let mut p = Params::new(Some(raw(r#"["\ud83d\ude00"]"#)))
            .decoder(&["s"])
            .unwrap();
        assert_eq!(p.required::<String>(0).unwrap(), "\u{1F600}");
    }

    /// Decodes `a: i64` and `b: Option<String>` as `#[rpc]` does, through
    /// the decoder that reads the array up front and the one that reads it
    /// in order.
    fn both_ways(text: &str) -> [Result<(i64, Option<String>), ErrorObject>; 2] {
        const NAMES: &[&str] = &["a", "b"];
        let params = Params::new(Some(raw(text)));
        let up_front = params.decoder(NAMES).and_then(|mut p| {
            let a = p.required::<i64>(0)?;
            Ok((a, p.optional::<String>(1)?))
        });
        let in_order = params.decoder_in_order(NAMES).and_then(|mut p| {
            let a = p.required::<i64>(0)?;
            let b = p.optional::<String>(1)?;
            p.finish()?;
            Ok((a, b))
        });
        [up_front, in_order]
    }

    #[test]
    fn reading_in_order_decodes_as_reading_up_front() {
        for text in [
            "[1]",
            "[1,\"x\"]",
            " [ 1 ,\n\t\"x\" ] ",
            "[1, null]",
            "[1,null ]",
            "[]",
            "[ ]",
            "[\"x\"]",
            "[null]",
            "[1.5]",
            "[1, 2]",
            "[1, \"a,]\\\"[b\"]",
            "[1, \"x\", 3]",
            "[1, \"x\", [1, [2]], {\"a\": []}]",
            "[1,\"\\ud800\"]",
            "[-0,\"\\u00e9\"]",
            "[99999999999999999999]",
            r#"{"b":"x","a":1}"#,
            r#"{"a":1,"c":2}"#,
        ] {
            let [up_front, in_order] = both_ways(text);
            match (&up_front, &in_order) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => assert_eq!(
                    (a.code, &a.message, &a.data),
                    (b.code, &b.message, &b.data),
                    "{text}"
                ),
                _ => panic!("{text}: {up_front:?} but {in_order:?}"),
            }
        }
    }

    #[test]
    fn reading_in_order_reports_a_wrong_value_before_values_left_over() {
        let [up_front, in_order] = both_ways(r#"["x", "y", 3]"#);
        assert!(up_front
            .unwrap_err()
            .message
            .contains("too many parameters"));
        let e = in_order.unwrap_err();
        assert!(e.message.contains("parameter `a`"), "{}", e.message);
    }

    #[test]
    fn reading_in_another_order_reads_up_front_and_each_value_once() {
        let text = r#"[1, "x", true]"#;
        let mut p = Params::new(Some(raw(text)))
            .decoder_in_order(&["a", "b", "c"])
            .unwrap();
        assert_eq!(p.required::<i64>(0).unwrap(), 1);
        assert!(p.required::<bool>(2).unwrap());
        assert_eq!(p.required::<String>(1).unwrap(), "x");
        // Taken already.
        assert!(p.required::<i64>(0).is_err());
        assert!(p.finish().is_ok());
        // After a value that cannot be decoded, the others still can.
        let mut p = Params::new(Some(raw(text)))
            .decoder_in_order(&["a", "b", "c"])
            .unwrap();
        assert!(p.required::<String>(0).is_err());
        assert_eq!(p.required::<String>(1).unwrap(), "x");
        assert_eq!(p.optional::<i64>(0).unwrap(), None);
        // Values left over after a lost place are still counted.
        let mut p = Params::new(Some(raw("[\"x\", 2, 3]")))
            .decoder_in_order(&["a", "b"])
            .unwrap();
        assert!(p.required::<i64>(0).is_err());
        assert!(p.finish().unwrap_err().message.contains("got 3"));
    }

    #[test]
    fn optional_accepts_missing_and_null() {
        for text in ["[1]", "[1,null]", r#"{"a":1}"#, r#"{"a":1,"b":null}"#] {
            let mut p = Params::new(Some(raw(text))).decoder(&["a", "b"]).unwrap();
            assert_eq!(p.optional::<String>(1).unwrap(), None, "{text}");
        }
        let mut p = Params::new(None).decoder(&["a"]).unwrap();
        assert_eq!(p.optional::<i64>(0).unwrap(), None);
    }
}
