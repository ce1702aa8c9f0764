//! Encoding a call's parameters, positional or named.

use serde::Serialize;
use serde_json::value::RawValue;

use super::Error;

/// Builds `params` for a call, positional (`[1, 2]`) or named (`{"a":1,"b":2}`).
///
/// Optional parameters that are `None` are left out: dropped from the end
/// of a positional list (sent as `null` in the middle), omitted by name.
///
/// ```
/// use rpc_core::ParamsBuilder;
/// let mut p = ParamsBuilder::new(false);
/// p.push("name", &"Ann");
/// p.push_optional("title", &None::<String>);
/// assert_eq!(p.finish().unwrap().unwrap().get(), r#"["Ann"]"#);
/// ```
#[derive(Debug, Default)]
pub struct ParamsBuilder {
    named: bool,
    /// The params written so far, without the closing bracket.
    out: Vec<u8>,
    /// Optional positional params left out so far: written as `null` only if
    /// a later param follows them.
    skipped: usize,
    error: Option<serde_json::Error>,
    /// `out` is the whole params value already ([`object`](Self::object)).
    whole: bool,
    /// Params pushed or left out so far.
    slots: usize,
    /// The place of the param named `since`, if there is one: where a
    /// reconnecting client puts the last event id to resume a subscription.
    since: Option<usize>,
    /// Whether `since` was given a value.
    since_given: bool,
}

impl ParamsBuilder {
    /// An empty builder; `named` chooses an object over an array.
    pub fn new(named: bool) -> Self {
        ParamsBuilder {
            named,
            out: Vec::new(),
            skipped: 0,
            error: None,
            whole: false,
            slots: 0,
            since: None,
            since_given: false,
        }
    }

    fn separator(&mut self) {
        let open = if self.named { b'{' } else { b'[' };
        self.out.push(if self.out.is_empty() { open } else { b',' });
    }

    /// `params` as one value (an object or an array), as
    /// `#[rpc(params_object)]` methods take it; a value that serializes to
    /// `null` sends no params, any other scalar is an encoding error.
    ///
    /// ```
    /// use rpc_core::ParamsBuilder;
    /// let p = ParamsBuilder::object(&serde_json::json!({"uri": "file:///a"}));
    /// assert_eq!(p.finish().unwrap().unwrap().get(), r#"{"uri":"file:///a"}"#);
    /// ```
    pub fn object<T: Serialize + ?Sized>(value: &T) -> Self {
        let mut builder = ParamsBuilder::default();
        match serde_json::to_vec(value) {
            Ok(bytes) if bytes == b"null" => {}
            Ok(bytes) if matches!(bytes.first(), Some(b'{' | b'[')) => {
                builder.whole = true;
                builder.out = bytes;
            }
            Ok(_) => {
                builder.error = Some(<serde_json::Error as serde::ser::Error>::custom(
                    "params must be an object or an array",
                ));
            }
            Err(e) => builder.error = Some(e),
        }
        builder
    }

    /// Counts a param slot, noting the place of `since`.
    fn slot(&mut self, name: &str) {
        if name == "since" {
            self.since = Some(self.slots);
        }
        self.slots += 1;
    }

    /// Where a reconnecting client puts the last event id: the param named
    /// `since`, by name or position.
    pub(crate) fn resume(&self) -> Option<Resume> {
        let at = self.since?;
        (!self.whole).then_some(Resume {
            named: self.named,
            at,
            given: self.since_given,
        })
    }

    /// Adds a parameter.
    pub fn push<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) {
        self.slot(name);
        self.since_given |= name == "since";
        if self.error.is_some() {
            return;
        }
        if self.whole {
            self.error = Some(<serde_json::Error as serde::ser::Error>::custom(
                "params given whole (`ParamsBuilder::object`) take no more values",
            ));
            return;
        }
        let start = self.out.len();
        if self.named {
            self.separator();
            if let Err(e) = serde_json::to_writer(&mut self.out, name) {
                self.error = Some(e);
                return;
            }
            self.out.push(b':');
        } else {
            for _ in 0..std::mem::take(&mut self.skipped) {
                self.separator();
                self.out.extend_from_slice(b"null");
            }
            self.separator();
        }
        if let Err(e) = serde_json::to_writer(&mut self.out, value) {
            self.out.truncate(start);
            self.error = Some(e);
        }
    }

    /// Adds an optional parameter; `None` is left out.
    pub fn push_optional<T: Serialize>(&mut self, name: &'static str, value: &Option<T>) {
        match value {
            Some(v) => self.push(name, v),
            None => {
                self.slot(name);
                if !self.named {
                    self.skipped += 1;
                }
            }
        }
    }

    /// The encoded params as bytes, or `None` when there are none to send.
    pub(crate) fn into_bytes(mut self) -> Result<Option<Vec<u8>>, Error> {
        if let Some(e) = self.error {
            return Err(Error::Encode(e));
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        if self.whole {
            return Ok(Some(self.out));
        }
        self.out.push(if self.named { b'}' } else { b']' });
        Ok(Some(self.out))
    }

    /// The encoded params, or `None` when there are none to send.
    pub fn finish(self) -> Result<Option<Box<RawValue>>, Error> {
        match self.into_bytes()? {
            None => Ok(None),
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| Error::Transport(Box::new(e)))?;
                RawValue::from_string(text).map(Some).map_err(Error::Encode)
            }
        }
    }
}

/// Where a subscription's `since` param goes: a subscription call that
/// has one can be made again from the last event id its stream saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    named: bool,
    at: usize,
    /// The first call gave `since` a value: made again as it was, it
    /// resumes from there.
    pub(crate) given: bool,
}

impl Resume {
    /// `params` (as first sent) with `since` set to `event`.
    pub(crate) fn apply(self, params: Option<&[u8]>, event: &str) -> Option<Vec<u8>> {
        use serde_json::Value;
        let mut value: Value = match params {
            Some(params) => serde_json::from_slice(params).ok()?,
            None if self.named => Value::Object(Default::default()),
            None => Value::Array(Vec::new()),
        };
        match &mut value {
            Value::Object(fields) if self.named => {
                fields.insert("since".into(), Value::from(event));
            }
            Value::Array(values) if !self.named => {
                if values.len() <= self.at {
                    values.resize(self.at + 1, Value::Null);
                }
                values[self.at] = Value::from(event);
            }
            _ => return None,
        }
        serde_json::to_vec(&value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(named: bool, fill: impl FnOnce(&mut ParamsBuilder)) -> Option<String> {
        let mut p = ParamsBuilder::new(named);
        fill(&mut p);
        p.finish().unwrap().map(|raw| raw.get().to_owned())
    }

    #[test]
    fn left_out_optionals_are_null_only_between_values() {
        let fill = |p: &mut ParamsBuilder| {
            p.push("a", &1);
            p.push_optional("b", &None::<i64>);
            p.push("c", &"x");
            p.push_optional("d", &None::<i64>);
        };
        assert_eq!(built(false, fill).as_deref(), Some(r#"[1,null,"x"]"#));
        assert_eq!(built(true, fill).as_deref(), Some(r#"{"a":1,"c":"x"}"#));
        assert_eq!(built(false, |p| p.push_optional("a", &None::<i64>)), None);
        assert_eq!(built(true, |_| {}), None);
    }

    #[test]
    fn since_is_found_by_name_and_set_in_place() {
        let fill = |p: &mut ParamsBuilder| {
            p.push("topic", &"news");
            p.push_optional("since", &None::<String>);
        };
        for named in [false, true] {
            let mut p = ParamsBuilder::new(named);
            fill(&mut p);
            let resume = p.resume().unwrap();
            let sent = p.into_bytes().unwrap();
            let again = resume.apply(sent.as_deref(), "7-3").unwrap();
            let expected: &[u8] = if named {
                br#"{"since":"7-3","topic":"news"}"#
            } else {
                br#"["news","7-3"]"#
            };
            assert_eq!(again, expected);
        }
        // A since given at first is replaced.
        let mut p = ParamsBuilder::new(false);
        p.push_optional("since", &Some("1-1"));
        p.push("topic", &"news");
        let resume = p.resume().unwrap();
        let sent = p.into_bytes().unwrap();
        assert_eq!(
            resume.apply(sent.as_deref(), "1-9").unwrap(),
            br#"["1-9","news"]"#
        );
        // No since, no resume.
        let mut p = ParamsBuilder::new(false);
        p.push("interval_ms", &10);
        assert!(p.resume().is_none());
    }

    #[test]
    fn a_value_that_cannot_serialize_is_an_encode_error() {
        let mut p = ParamsBuilder::new(false);
        let map: std::collections::HashMap<Vec<u8>, i32> = [(vec![1u8], 1)].into();
        p.push("b", &map);
        assert!(matches!(p.finish(), Err(Error::Encode(_))));
    }
}
