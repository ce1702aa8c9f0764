//! Framing of JSON-RPC messages on byte streams (TCP, Unix sockets, stdio).
//!
//! - [`Framing::Newline`]: reads concatenated or newline-delimited JSON
//!   values (node's json-rpc2 writes them back to back), writes one message
//!   per line (what jayson's TCP client expects).
//! - [`Framing::LengthPrefix`]: a big-endian byte count of 1, 2 or 4 bytes
//!   before each message, as the jsonFrame library does; built on
//!   tokio-util's `LengthDelimitedCodec`.

use std::fmt;
use std::io;
use std::str::FromStr;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::duplex::Frame;

/// Largest message accepted by default (4 MiB).
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// How messages are delimited on a byte stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// JSON values back to back or one per line; writes one per line.
    #[default]
    Newline,
    /// A big-endian length of this many bytes (1, 2 or 4) before each message.
    LengthPrefix(u8),
}

impl Framing {
    /// The longest message the framing itself can carry: 255 bytes behind a
    /// 1-byte prefix, 65535 behind a 2-byte one; `None` when only the
    /// configured limit applies.
    pub fn max_message(self) -> Option<usize> {
        match self {
            Framing::LengthPrefix(1) => Some(u8::MAX.into()),
            Framing::LengthPrefix(2) => Some(u16::MAX.into()),
            _ => None,
        }
    }
}

impl FromStr for Framing {
    type Err = String;

    /// Parses `newline`, `length-prefix-1`, `length-prefix-2` or `length-prefix-4`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "newline" => Ok(Framing::Newline),
            "length-prefix-1" => Ok(Framing::LengthPrefix(1)),
            "length-prefix-2" => Ok(Framing::LengthPrefix(2)),
            "length-prefix-4" => Ok(Framing::LengthPrefix(4)),
            other => Err(format!(
                "unknown framing `{other}`; expected newline, length-prefix-1, length-prefix-2 or length-prefix-4"
            )),
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Framing::Newline => f.write_str("newline"),
            Framing::LengthPrefix(n) => write!(f, "length-prefix-{n}"),
        }
    }
}

/// Splits a byte stream into JSON values: objects and arrays by balancing
/// brackets (outside strings), anything else up to the end of the line.
/// Writes each message followed by `\n`.
#[derive(Debug, Clone)]
pub struct NewlineCodec {
    max_frame: usize,
    /// Bytes of the current frame already scanned, and the scan state there.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl NewlineCodec {
    /// A codec refusing messages longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        NewlineCodec {
            max_frame,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
    }

    /// Scans for the end of a bracketed value; returns its length when complete.
    fn scan_structure(&mut self, buf: &[u8]) -> Option<usize> {
        for (i, &b) in buf.iter().enumerate().skip(self.scanned) {
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
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        self.scanned = buf.len();
        None
    }

    fn too_large(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message longer than {} bytes", self.max_frame),
        )
    }
}

impl Default for NewlineCodec {
    fn default() -> Self {
        NewlineCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for NewlineCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, io::Error> {
        if self.scanned == 0 {
            let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            buf.advance(blank);
        }
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let end = if first == b'{' || first == b'[' {
            self.scan_structure(buf).map(|len| (len, len))
        } else {
            let found = buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + self.scanned);
            if found.is_none() {
                self.scanned = buf.len();
            }
            found.map(|nl| (nl, nl + 1))
        };
        match end {
            Some((len, consumed)) if len <= self.max_frame => {
                let mut frame = buf.split_to(consumed);
                frame.truncate(len);
                self.reset();
                Ok(Some(frame))
            }
            Some(_) => Err(self.too_large()),
            None if buf.len() > self.max_frame => Err(self.too_large()),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // What is left when the peer stops writing is answered too (as a parse error).
        let rest = buf.split();
        self.reset();
        Ok((!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest))
    }
}

impl Encoder<Bytes> for NewlineCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), io::Error> {
        dst.reserve(item.len() + 1);
        dst.put_slice(&item);
        dst.put_u8(b'\n');
        Ok(())
    }
}

/// The codec for one [`Framing`], reading messages and writing [`Frame`]s
/// (keep-alive pings write nothing on a byte stream).
#[derive(Debug)]
pub enum StreamCodec {
    /// [`Framing::Newline`].
    Newline(NewlineCodec),
    /// [`Framing::LengthPrefix`].
    LengthPrefix(LengthDelimitedCodec),
}

impl StreamCodec {
    /// The codec for `framing`, refusing messages longer than `max_frame`
    /// (a 1-byte prefix caps messages at 255 bytes, a 2-byte one at 65535).
    pub fn new(framing: Framing, max_frame: usize) -> Self {
        match framing {
            Framing::Newline => StreamCodec::Newline(NewlineCodec::new(max_frame)),
            Framing::LengthPrefix(width) => StreamCodec::LengthPrefix(
                LengthDelimitedCodec::builder()
                    .length_field_length(if matches!(width, 1 | 2) {
                        usize::from(width)
                    } else {
                        4
                    })
                    .big_endian()
                    .max_frame_length(
                        framing
                            .max_message()
                            .map_or(max_frame, |cap| max_frame.min(cap)),
                    )
                    .new_codec(),
            ),
        }
    }
}

impl Decoder for StreamCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, io::Error> {
        match self {
            StreamCodec::Newline(c) => c.decode(buf),
            StreamCodec::LengthPrefix(c) => c.decode(buf),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, io::Error> {
        match self {
            StreamCodec::Newline(c) => c.decode_eof(buf),
            StreamCodec::LengthPrefix(c) => c.decode_eof(buf),
        }
    }
}

impl Encoder<Frame> for StreamCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), io::Error> {
        let Frame::Message(bytes) = item else {
            return Ok(());
        };
        match self {
            StreamCodec::Newline(c) => c.encode(bytes, dst),
            StreamCodec::LengthPrefix(c) => c.encode(bytes, dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        codec: &mut impl Decoder<Item = BytesMut, Error = io::Error>,
        chunks: &[&[u8]],
    ) -> Vec<String> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(String::from_utf8(frame.to_vec()).unwrap());
            }
        }
        if let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            out.push(String::from_utf8(frame.to_vec()).unwrap());
        }
        out
    }

    const STREAM: &[u8] = b"{\"a\":\"}{\\\"\"}[1,[2]]\n  {\"b\":{}}\r\nnot json\n42";

    fn expected() -> Vec<String> {
        [
            "{\"a\":\"}{\\\"\"}",
            "[1,[2]]",
            "{\"b\":{}}",
            "not json",
            "42",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn newline_codec_splits_concatenated_and_delimited_values() {
        assert_eq!(
            decode_all(&mut NewlineCodec::default(), &[STREAM]),
            expected()
        );
    }

    #[test]
    fn newline_codec_handles_every_split_point() {
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(
                decode_all(&mut NewlineCodec::default(), &[a, b]),
                expected(),
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode_all(&mut NewlineCodec::default(), &bytes), expected());
    }

    #[test]
    fn newline_codec_refuses_oversized_frames() {
        let mut codec = NewlineCodec::new(8);
        let mut buf = BytesMut::from(&b"[1,2,3,4,5,6"[..]);
        assert!(codec.decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"[1,2,3,4,5,6]"[..]);
        assert!(NewlineCodec::new(8).decode(&mut buf).is_err());
    }

    #[test]
    fn length_prefix_round_trips_at_every_split_point() {
        for width in [1u8, 2, 4] {
            let mut encoded = BytesMut::new();
            let mut codec = StreamCodec::new(Framing::LengthPrefix(width), 1000);
            for msg in ["{\"x\":1}", "[]", "{}"] {
                codec
                    .encode(Frame::Message(Bytes::from(msg)), &mut encoded)
                    .unwrap();
            }
            codec.encode(Frame::Ping, &mut encoded).unwrap();
            assert_eq!(encoded.len(), 11 + 3 * usize::from(width));
            for cut in 0..=encoded.len() {
                let (a, b) = encoded.split_at(cut);
                let mut codec = StreamCodec::new(Framing::LengthPrefix(width), 1000);
                assert_eq!(
                    decode_all(&mut codec, &[a, b]),
                    ["{\"x\":1}", "[]", "{}"],
                    "width {width} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn framing_names_parse() {
        for name in [
            "newline",
            "length-prefix-1",
            "length-prefix-2",
            "length-prefix-4",
        ] {
            assert_eq!(name.parse::<Framing>().unwrap().to_string(), name);
        }
        assert!("length-prefix-3".parse::<Framing>().is_err());
    }
}
