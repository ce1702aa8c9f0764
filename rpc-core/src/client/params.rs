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

    /// Adds a parameter.
    pub fn push<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) {
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
            None if self.named => {}
            None => self.skipped += 1,
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
    fn a_value_that_cannot_serialize_is_an_encode_error() {
        let mut p = ParamsBuilder::new(false);
        let map: std::collections::HashMap<Vec<u8>, i32> = [(vec![1u8], 1)].into();
        p.push("b", &map);
        assert!(matches!(p.finish(), Err(Error::Encode(_))));
    }
}
