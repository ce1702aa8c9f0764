//! The duplex engine on a framed byte stream.

use std::io;

use bytes::BytesMut;
use futures_util::{stream, SinkExt, StreamExt};
use rpc_core::codec::{Framing, StreamCodec};
use rpc_core::duplex::{Connections, DuplexConfig, DuplexConnection, Frame, Incoming};
use rpc_core::{code, Context, Dispatcher, ErrorObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

/// Options of a stream connection, for both servers and clients.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// How messages are delimited (default: newline).
    pub framing: Framing,
    /// Engine settings (in-flight limit, queue size; keep-alive does not apply to streams).
    pub duplex: DuplexConfig,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            framing: Framing::Newline,
            duplex: DuplexConfig {
                keep_alive: None,
                ..DuplexConfig::default()
            },
        }
    }
}

impl StreamOptions {
    /// Options with the given framing and defaults otherwise.
    pub fn framing(framing: Framing) -> Self {
        StreamOptions {
            framing,
            ..StreamOptions::default()
        }
    }
}

/// Runs the duplex engine on any byte stream: answers the peer's requests
/// through `dispatcher`, and returns the handle for calling the peer.
///
/// Messages longer than the dispatcher's
/// [`max_message_bytes`](rpc_core::Limits::max_message_bytes) (or than the
/// framing can carry) are refused with an error, then the connection closes.
pub fn connect_stream<S>(
    io: S,
    options: &StreamOptions,
    dispatcher: Dispatcher,
    context: Context,
    registry: Option<&Connections>,
) -> DuplexConnection
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let max = dispatcher.limits().max_message_bytes;
    let (sink, stream) = Framed::new(io, StreamCodec::new(options.framing, max)).split();
    let incoming = stream.map(|frame| {
        frame
            .map(|bytes| Incoming::Message(BytesMut::freeze(bytes)))
            .map_err(|e| {
                let code = if e.kind() == io::ErrorKind::InvalidData {
                    code::REQUEST_TOO_LARGE
                } else {
                    code::PARSE_ERROR
                };
                ErrorObject::new(code, format!("Invalid frame: {e}"))
            })
    });
    // A byte stream carries messages only: pings and close frames write nothing.
    let outgoing = sink.with_flat_map(|frame| {
        stream::iter(match frame {
            Frame::Message(bytes) => Some(Ok(bytes)),
            Frame::Ping | Frame::Close { .. } => None,
        })
    });
    let mut config = options.duplex.clone();
    // A byte stream has no pings: no keep-alive deadline either.
    config.keep_alive = None;
    if let Some(cap) = options.framing.max_message() {
        config.max_message = Some(config.max_message.map_or(cap, |max| max.min(cap)));
    }
    DuplexConnection::spawn(
        Box::pin(incoming),
        Box::pin(outgoing),
        dispatcher,
        context,
        registry,
        config,
    )
}
