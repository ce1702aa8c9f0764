//! A resumable scanner of JSON bracket structure that does not parse: the
//! newline framing uses it to find where a value ends in concatenated JSON.

/// Tracks bracket depth over JSON text fed in pieces, skipping strings
/// (with their escapes), so `"]"` inside a string never closes anything.
#[derive(Clone, Debug, Default)]
pub(crate) struct Structure {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Structure {
    /// Feeds `bytes`; returns the length of the prefix that completes the
    /// outermost value (depth back to 0 after opening), if it ends in them.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                }
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_split_anywhere_ends_at_the_same_byte() {
        let text = br#"{"a":"}\"{","b":[1,{"c":[]}]} tail"#;
        let end = text.len() - 5;
        for cut in 0..text.len() {
            let mut s = Structure::default();
            let found = match s.feed(&text[..cut]) {
                Some(n) => Some(n),
                None => s.feed(&text[cut..]).map(|n| n + cut),
            };
            assert_eq!(found, Some(end), "cut at {cut}");
        }
    }
}
