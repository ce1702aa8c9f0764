//! The one WebSocket adapter: a tungstenite socket (a server's or a
//! client's) becomes the engine's stream of incoming messages and sink of
//! [`Frame`]s.

use std::future::ready;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use rpc_core::duplex::{Frame, Incoming};
use rpc_core::ErrorObject;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

/// What a received WebSocket message means to the engine.
pub(crate) enum Received {
    /// A text or binary message: a JSON-RPC message.
    Data(Bytes),
    /// The peer closes.
    Close,
    /// Ping, pong and the like: only a sign of life for the engine.
    Control,
    /// A read failed because the peer broke the rules.
    Violation { code: u16, reason: &'static str },
}

/// The close code and reason for a read error caused by the peer; `None`
/// for I/O errors and the like.
fn violation(error: &Error) -> Option<(u16, &'static str)> {
    match error {
        // The peer vanished (its process killed, say): an end, not a violation.
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Capacity(_) => Some((1009, "message too big")),
        Error::Utf8(_) => Some((1007, "invalid UTF-8")),
        Error::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

/// Splits `socket` into what [`DuplexConnection::spawn`](rpc_core::duplex::DuplexConnection::spawn)
/// takes. A read error (a message over the size limit, a broken socket)
/// ends the incoming stream like a close.
pub(crate) fn adapt<S>(
    socket: S,
) -> (
    impl Stream<Item = Result<Incoming, ErrorObject>> + Send + Unpin + 'static,
    impl Sink<Frame> + Send + Unpin + 'static,
)
where
    S: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Send + 'static,
{
    let (sink, stream) = socket.split();
    let incoming = stream
        .map(|m| match m {
            Ok(message) => received(message),
            Err(error) => violation(&error).map_or(Received::Close, |(code, reason)| {
                Received::Violation { code, reason }
            }),
        })
        // A violation is the last item; a close ends the stream.
        .scan(false, |ended, m| {
            let item = (!*ended && !matches!(m, Received::Close)).then_some(m);
            *ended |= matches!(item, Some(Received::Violation { .. }));
            ready(item)
        })
        .map(|m| match m {
            Received::Data(bytes) => Ok(Incoming::Message(bytes)),
            Received::Violation { code, reason } => Ok(Incoming::Violation { code, reason }),
            Received::Close | Received::Control => Ok(Incoming::Alive),
        });
    let outgoing = sink.with(|frame: Frame| ready(Ok::<_, Error>(message(frame))));
    (Box::pin(incoming), Box::pin(outgoing))
}

fn received(message: Message) -> Received {
    match message {
        Message::Text(text) => Received::Data(Bytes::from(text)),
        Message::Binary(bytes) => Received::Data(bytes),
        Message::Close(_) => Received::Close,
        _ => Received::Control,
    }
}

/// The message that carries `frame`: text when it is UTF-8 (JSON always is).
fn message(frame: Frame) -> Message {
    match frame {
        Frame::Message(bytes) => match Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Binary(bytes),
        },
        Frame::Ping => Message::Ping(Bytes::new()),
        Frame::Close { code, reason } => Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: Utf8Bytes::from_static(reason),
        })),
    }
}
