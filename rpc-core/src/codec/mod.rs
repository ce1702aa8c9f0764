//! Framing of JSON-RPC messages on byte streams (TCP, Unix sockets, stdio).
//!
//! - [`Framing::Newline`]: reads concatenated or newline-delimited JSON
//!   values (node's json-rpc2 writes them back to back), writes one message
//!   per line (what jayson's TCP client expects).
//! - [`Framing::LengthPrefix1`], `2` and `4`: a big-endian byte count of 1, 2 or 4 bytes
//!   before each message, as the jsonFrame library does; built on
//!   tokio-util's `LengthDelimitedCodec`.
//! - [`Framing::ContentLength`]: LSP's base protocol, header lines
//!   (`Content-Length: N`) and an empty line before each message, as
//!   language servers and vscode-jsonrpc speak it.

use std::fmt;
use std::io;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

mod content_length;
mod newline;
mod scan;

pub use content_length::{ContentLengthCodec, HeaderError, MAX_HEADER_BLOCK};
pub use newline::NewlineCodec;

/// The error a codec reports for a message longer than its limit.
fn too_large(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("message longer than {max} bytes"),
    )
}

/// How messages are delimited on a byte stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// JSON values back to back or one per line; writes one per line.
    #[default]
    Newline,
    /// A one-byte length before each message (messages of at most 255 bytes).
    LengthPrefix1,
    /// A big-endian two-byte length before each message (at most 65535 bytes).
    LengthPrefix2,
    /// A big-endian four-byte length before each message.
    LengthPrefix4,
    /// LSP's base protocol: `Content-Length: N\r\n`, other header lines
    /// ignored, `\r\n`, then N bytes ([`ContentLengthCodec`]).
    ContentLength,
}

impl Framing {
    /// Bytes of the binary length prefix (0 for newline and content-length
    /// framing).
    pub fn prefix_width(self) -> usize {
        match self {
            Framing::Newline | Framing::ContentLength => 0,
            Framing::LengthPrefix1 => 1,
            Framing::LengthPrefix2 => 2,
            Framing::LengthPrefix4 => 4,
        }
    }

    /// The longest message the framing itself can carry: 255 bytes behind a
    /// 1-byte prefix, 65535 behind a 2-byte one; `None` when only the
    /// configured limit applies.
    pub fn max_message(self) -> Option<usize> {
        match self {
            Framing::LengthPrefix1 => Some(u8::MAX.into()),
            Framing::LengthPrefix2 => Some(u16::MAX.into()),
            _ => None,
        }
    }
}

/// A framing name that [`Framing::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown framing `{0}`; expected newline, content-length, length-prefix-1, length-prefix-2 or length-prefix-4"
)]
pub struct UnknownFraming(pub String);

impl FromStr for Framing {
    type Err = UnknownFraming;

    /// Parses `newline`, `content-length`, `length-prefix-1`,
    /// `length-prefix-2` or `length-prefix-4`.
    fn from_str(s: &str) -> Result<Self, UnknownFraming> {
        match s {
            "newline" => Ok(Framing::Newline),
            "content-length" => Ok(Framing::ContentLength),
            "length-prefix-1" => Ok(Framing::LengthPrefix1),
            "length-prefix-2" => Ok(Framing::LengthPrefix2),
            "length-prefix-4" => Ok(Framing::LengthPrefix4),
            other => Err(UnknownFraming(other.to_owned())),
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Framing::Newline => f.write_str("newline"),
            Framing::ContentLength => f.write_str("content-length"),
            Framing::LengthPrefix1 => f.write_str("length-prefix-1"),
            Framing::LengthPrefix2 => f.write_str("length-prefix-2"),
            Framing::LengthPrefix4 => f.write_str("length-prefix-4"),
        }
    }
}

/// The codec for one [`Framing`]: reads and writes whole messages.
#[derive(Debug)]
pub enum StreamCodec {
    /// [`Framing::Newline`].
    Newline(NewlineCodec),
    /// [`Framing::LengthPrefix1`], `2` or `4`.
    LengthPrefix(LengthDelimitedCodec),
    /// [`Framing::ContentLength`].
    ContentLength(ContentLengthCodec),
}

impl StreamCodec {
    /// The codec for `framing`, refusing messages longer than `max_frame`
    /// (a 1-byte prefix caps messages at 255 bytes, a 2-byte one at 65535).
    pub fn new(framing: Framing, max_frame: usize) -> Self {
        match framing {
            Framing::Newline => StreamCodec::Newline(NewlineCodec::new(max_frame)),
            Framing::ContentLength => {
                StreamCodec::ContentLength(ContentLengthCodec::new(max_frame))
            }
            Framing::LengthPrefix1 | Framing::LengthPrefix2 | Framing::LengthPrefix4 => {
                StreamCodec::LengthPrefix(
                    LengthDelimitedCodec::builder()
                        .length_field_length(framing.prefix_width())
                        .big_endian()
                        .max_frame_length(
                            framing
                                .max_message()
                                .map_or(max_frame, |cap| max_frame.min(cap)),
                        )
                        .new_codec(),
                )
            }
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
            StreamCodec::ContentLength(c) => c.decode(buf),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, io::Error> {
        match self {
            StreamCodec::Newline(c) => c.decode_eof(buf),
            StreamCodec::LengthPrefix(c) => c.decode_eof(buf),
            StreamCodec::ContentLength(c) => c.decode_eof(buf),
        }
    }
}

impl Encoder<Bytes> for StreamCodec {
    type Error = io::Error;

    fn encode(&mut self, bytes: Bytes, dst: &mut BytesMut) -> Result<(), io::Error> {
        match self {
            StreamCodec::Newline(c) => c.encode(bytes, dst),
            StreamCodec::LengthPrefix(c) => c.encode(bytes, dst),
            StreamCodec::ContentLength(c) => c.encode(bytes, dst),
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
        for framing in [
            Framing::LengthPrefix1,
            Framing::LengthPrefix2,
            Framing::LengthPrefix4,
        ] {
            let width = framing.prefix_width();
            let mut encoded = BytesMut::new();
            let mut codec = StreamCodec::new(framing, 1000);
            for msg in ["{\"x\":1}", "[]", "{}"] {
                codec.encode(Bytes::from(msg), &mut encoded).unwrap();
            }
            assert_eq!(encoded.len(), 11 + 3 * width);
            for cut in 0..=encoded.len() {
                let (a, b) = encoded.split_at(cut);
                let mut codec = StreamCodec::new(framing, 1000);
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
            "content-length",
            "length-prefix-1",
            "length-prefix-2",
            "length-prefix-4",
        ] {
            assert_eq!(name.parse::<Framing>().unwrap().to_string(), name);
        }
        assert!("length-prefix-3".parse::<Framing>().is_err());
    }
}
