//! Newline framing: reads JSON values back to back or one per line, writes
//! one message per line.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::scan::Structure;
use super::too_large;
use crate::protocol::DEFAULT_MAX_MESSAGE;

/// Splits a byte stream into JSON values: objects and arrays by balancing
/// brackets (outside strings), anything else up to the end of the line.
/// Writes each message followed by `\n`.
#[derive(Debug, Clone)]
pub struct NewlineCodec {
    max_frame: usize,
    /// Bytes of the current frame already scanned.
    scanned: usize,
    /// The bracket structure of the current frame up to `scanned`.
    structure: Structure,
}

impl NewlineCodec {
    /// A codec refusing messages longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        NewlineCodec {
            max_frame,
            scanned: 0,
            structure: Structure::default(),
        }
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.structure = Structure::default();
    }

    /// Where the frame at the start of `buf` ends: its length and the bytes
    /// it consumes (a line's `\n` is consumed but not part of the frame).
    fn frame_end(&mut self, buf: &[u8]) -> Option<(usize, usize)> {
        let unscanned = &buf[self.scanned..];
        let found = if matches!(buf.first(), Some(b'{' | b'[')) {
            self.structure
                .feed(unscanned)
                .map(|n| (self.scanned + n, self.scanned + n))
        } else {
            unscanned
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| (self.scanned + i, self.scanned + i + 1))
        };
        if found.is_none() {
            self.scanned = buf.len();
        }
        found
    }
}

impl Default for NewlineCodec {
    fn default() -> Self {
        NewlineCodec::new(DEFAULT_MAX_MESSAGE)
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
        if buf.is_empty() {
            return Ok(None);
        }
        match self.frame_end(buf) {
            Some((len, consumed)) if len <= self.max_frame => {
                let mut frame = buf.split_to(consumed);
                frame.truncate(len);
                self.reset();
                Ok(Some(frame))
            }
            Some(_) => Err(too_large(self.max_frame)),
            None if buf.len() > self.max_frame => Err(too_large(self.max_frame)),
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
