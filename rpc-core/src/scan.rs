//! Byte-level looks at JSON text that do not parse it: the first
//! significant byte, and a resumable scanner of bracket structure. The
//! framing codec uses the scanner to find where a value ends; the parser
//! uses it to bound nesting depth.

/// The first byte that is not JSON whitespace, if any: tells an object
/// (`{`) from a batch (`[`) from anything else without parsing.
pub(crate) fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Tracks bracket depth over JSON text fed in pieces, skipping strings
/// (with their escapes), so `"]"` inside a string never closes anything.
#[derive(Clone, Debug, Default)]
pub(crate) struct Structure {
    depth: usize,
    deepest: usize,
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
                    self.deepest = self.deepest.max(self.depth);
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

    /// The deepest nesting seen so far.
    pub(crate) fn deepest(&self) -> usize {
        self.deepest
    }
}

/// Whether arrays and objects nest deeper than `max` anywhere in `text`.
pub(crate) fn deeper_than(text: &[u8], max: usize) -> bool {
    let mut structure = Structure::default();
    let mut rest = text;
    // A body holds one value, but keep scanning past its end all the same
    // (trailing bytes were already refused by the parser).
    while let Some(end) = structure.feed(rest) {
        if structure.deepest() > max {
            return true;
        }
        rest = &rest[end..];
    }
    structure.deepest() > max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_only_structure() {
        assert!(!deeper_than(br#"["[[[[[[[["]"#, 1));
        assert!(deeper_than(b"[[[]]]", 2));
        assert!(!deeper_than(b"[[[]]]", 3));
    }

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

    #[test]
    fn first_byte_skips_whitespace() {
        assert_eq!(first_byte(b" \r\n\t[1]"), Some(b'['));
        assert_eq!(first_byte(b"  "), None);
    }
}
