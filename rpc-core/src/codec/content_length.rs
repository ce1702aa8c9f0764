//! LSP's base protocol: each message behind header lines
//! (`Content-Length: N\r\n`, others ignored) and an empty line.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::protocol::DEFAULT_MAX_MESSAGE;

/// The longest header block read before giving up on it: 8 KiB.
pub const MAX_HEADER_BLOCK: usize = 8 * 1024;

/// A header block that cannot be read: no or a bad `Content-Length`, a
/// malformed line, a block over [`MAX_HEADER_BLOCK`] or a length over the
/// message limit. The peer is answered -32700 (id `null`), then the
/// connection closes: nothing after it can be trusted to start a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable header block: {0}")]
pub struct HeaderError(pub String);

impl HeaderError {
    fn io(reason: impl Into<String>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, HeaderError(reason.into()))
    }
}

/// Reads and writes messages framed as LSP does (vscode-jsonrpc, every
/// language server): `Content-Length: N\r\n`, any other header lines (such
/// as `Content-Type`, ignored; names case-insensitive), `\r\n`, then exactly
/// N bytes. Writes `Content-Length` alone.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use rpc_core::codec::ContentLengthCodec;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ContentLengthCodec::default();
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from_static(b"{}"), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"Content-Length: 2\r\n\r\n{}");
/// assert_eq!(&codec.decode(&mut wire).unwrap().unwrap()[..], b"{}");
/// ```
#[derive(Debug, Clone)]
pub struct ContentLengthCodec {
    max_frame: usize,
    /// The length of the message whose headers have been read.
    body: Option<usize>,
}

impl Default for ContentLengthCodec {
    fn default() -> Self {
        ContentLengthCodec::new(DEFAULT_MAX_MESSAGE)
    }
}

impl ContentLengthCodec {
    /// A codec refusing messages longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        ContentLengthCodec {
            max_frame,
            body: None,
        }
    }

    /// The body length a complete header block announces.
    fn parse_headers(&self, block: &[u8]) -> io::Result<usize> {
        let block = std::str::from_utf8(block).map_err(|_| HeaderError::io("not ASCII"))?;
        let mut length = None;
        for line in block.split("\r\n") {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| HeaderError::io(format!("a line without `:`: {line:?}")))?;
            if !name.trim().eq_ignore_ascii_case("content-length") {
                continue;
            }
            let value = value.trim();
            let n: usize = value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| HeaderError::io(format!("Content-Length {value:?}")))?;
            if length.is_some_and(|first| first != n) {
                return Err(HeaderError::io("two different Content-Length headers"));
            }
            length = Some(n);
        }
        let length = length.ok_or_else(|| HeaderError::io("no Content-Length"))?;
        if length > self.max_frame {
            return Err(HeaderError::io(format!(
                "Content-Length {length} over the {} byte limit",
                self.max_frame
            )));
        }
        Ok(length)
    }
}

impl Decoder for ContentLengthCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        if self.body.is_none() {
            // The block ends at the first empty line, within the limit.
            let window = &buf[..buf.len().min(MAX_HEADER_BLOCK + 4)];
            let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
                if buf.len() > MAX_HEADER_BLOCK {
                    return Err(HeaderError::io(format!(
                        "no end within {MAX_HEADER_BLOCK} bytes"
                    )));
                }
                return Ok(None);
            };
            let length = self.parse_headers(&buf[..end])?;
            buf.advance(end + 4);
            self.body = Some(length);
        }
        let Some(length) = self.body else {
            return Ok(None);
        };
        if buf.len() < length {
            buf.reserve(length - buf.len());
            return Ok(None);
        }
        self.body = None;
        Ok(Some(buf.split_to(length)))
    }
}

impl Encoder<Bytes> for ContentLengthCodec {
    type Error = io::Error;

    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        let header = format!("Content-Length: {}\r\n\r\n", message.len());
        dst.reserve(header.len() + message.len());
        dst.put_slice(header.as_bytes());
        dst.put_slice(&message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"Content-Length: 7\r\n\r\n{\"a\":1}\
content-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-LENGTH:2\r\n\r\n[]\
Content-Length: 0\r\n\r\n";

    fn decode_all(chunks: &[&[u8]]) -> io::Result<Vec<String>> {
        let mut codec = ContentLengthCodec::new(100);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf)? {
                out.push(String::from_utf8(frame.to_vec()).unwrap());
            }
        }
        if let Some(frame) = codec.decode_eof(&mut buf)? {
            out.push(String::from_utf8(frame.to_vec()).unwrap());
        }
        Ok(out)
    }

    #[test]
    fn messages_split_at_every_byte_boundary_decode_the_same() {
        let want = ["{\"a\":1}", "[]", ""];
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(decode_all(&[a, b]).unwrap(), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode_all(&bytes).unwrap(), want);
    }

    #[test]
    fn what_it_writes_it_reads() {
        let mut codec = ContentLengthCodec::default();
        let mut wire = BytesMut::new();
        for message in ["{\"jsonrpc\":\"2.0\"}", "é", ""] {
            codec.encode(Bytes::from(message), &mut wire).unwrap();
        }
        let mut read = Vec::new();
        while let Some(frame) = codec.decode(&mut wire).unwrap() {
            read.push(String::from_utf8(frame.to_vec()).unwrap());
        }
        assert_eq!(read, ["{\"jsonrpc\":\"2.0\"}", "é", ""]);
    }

    #[test]
    fn unreadable_header_blocks_are_errors_of_their_own() {
        let long = format!("X-Pad: {}\r\n", "p".repeat(MAX_HEADER_BLOCK));
        for block in [
            "Content-Type: x\r\n\r\n{}",
            "Content-Length: two\r\n\r\n{}",
            "Content-Length: -2\r\n\r\n{}",
            "Content-Length: +2\r\n\r\n{}",
            "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            "Content-Length 2\r\n\r\n{}",
            "Content-Length: 101\r\n\r\n{}",
            "Content-Length: 99999999999999999999999\r\n\r\n{}",
            long.as_str(),
        ] {
            let error = decode_all(&[block.as_bytes()]).unwrap_err();
            assert!(
                error
                    .get_ref()
                    .is_some_and(|e| e.downcast_ref::<HeaderError>().is_some()),
                "{block:.40}: {error}"
            );
        }
    }

    #[test]
    fn a_message_cut_short_at_the_end_is_an_error() {
        assert!(decode_all(&[b"Content-Length: 5\r\n\r\n{}"]).is_err());
        // An incomplete header block too.
        assert!(decode_all(&[b"Content-Length: 5\r\n"]).is_err());
    }
}
