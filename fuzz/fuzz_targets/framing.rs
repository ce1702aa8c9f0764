//! Each framing's decoder fed arbitrary bytes, cut into pieces at
//! arbitrary points: no panic, no frame over the limit, no endless loop.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rpc_core::codec::{Framing, StreamCodec};
use tokio_util::codec::Decoder;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let framing = match control % 5 {
        0 => Framing::Newline,
        1 => Framing::LengthPrefix1,
        2 => Framing::LengthPrefix2,
        3 => Framing::LengthPrefix4,
        _ => Framing::ContentLength,
    };
    let piece = usize::from(control / 5) + 1;
    let mut codec = StreamCodec::new(framing, MAX);
    let mut buffer = BytesMut::new();
    'feed: for chunk in bytes.chunks(piece) {
        buffer.extend_from_slice(chunk);
        // Each call takes a frame or asks for more: bounded by the input.
        for _ in 0..=bytes.len() {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => assert!(frame.len() <= MAX, "a frame of {} bytes", frame.len()),
                Ok(None) => continue 'feed,
                Err(_) => break 'feed,
            }
        }
        panic!("the decoder kept yielding frames from finite input");
    }
    let _ = codec.decode_eof(&mut buffer);
});
