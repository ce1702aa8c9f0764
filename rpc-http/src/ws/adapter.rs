//! The one WebSocket adapter: a socket of some library's messages becomes
//! the engine's stream of incoming messages and sink of [`Frame`]s.

use std::future::ready;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use rpc_core::duplex::{Frame, Incoming};
use rpc_core::ErrorObject;

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

/// The close code and reason for a read error caused by the peer (found in
/// the error or its sources); `None` for I/O errors and the like.
fn violation(error: &(dyn std::error::Error + 'static)) -> Option<(u16, &'static str)> {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error;
    let cause = std::iter::successors(Some(error), |e| e.source())
        .find_map(|e| e.downcast_ref::<Error>())?;
    match cause {
        // The peer vanished (its process killed, say): an end, not a violation.
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Capacity(_) => Some((1009, "message too big")),
        Error::Utf8(_) => Some((1007, "invalid UTF-8")),
        Error::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

/// A WebSocket library's message type (axum's on the server, tungstenite's
/// on the client).
pub(crate) trait WsMessage: Sized {
    fn received(self) -> Received;
    fn from_frame(frame: Frame) -> Self;
}

/// Splits `socket` into what [`DuplexConnection::spawn`](rpc_core::duplex::DuplexConnection::spawn)
/// takes. A read error (a message over the size limit, a broken socket)
/// ends the incoming stream like a close.
pub(crate) fn adapt<S, M, E>(
    socket: S,
) -> (
    impl Stream<Item = Result<Incoming, ErrorObject>> + Send + Unpin + 'static,
    impl Sink<Frame> + Send + Unpin + 'static,
)
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Send + 'static,
    M: WsMessage + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    let (sink, stream) = socket.split();
    let incoming = stream
        .map(|m| match m {
            Ok(message) => message.received(),
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
    let outgoing = sink.with(|frame: Frame| ready(Ok::<_, E>(M::from_frame(frame))));
    (Box::pin(incoming), Box::pin(outgoing))
}

/// Both libraries' message types have the same shape (axum's mirrors
/// tungstenite's): one implementation, written once.
macro_rules! ws_message {
    ($message:path, $close_frame:path, $utf8:path) => {
        impl WsMessage for $message {
            fn received(self) -> Received {
                use $message as Message;
                match self {
                    Message::Text(text) => Received::Data(Bytes::from(text)),
                    Message::Binary(bytes) => Received::Data(bytes),
                    Message::Close(_) => Received::Close,
                    _ => Received::Control,
                }
            }

            fn from_frame(frame: Frame) -> Self {
                use $close_frame as CloseFrame;
                use $message as Message;
                use $utf8 as Utf8Bytes;
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
        }
    };
}

#[cfg(feature = "server")]
ws_message!(
    axum::extract::ws::Message,
    axum::extract::ws::CloseFrame,
    axum::extract::ws::Utf8Bytes
);
#[cfg(feature = "client")]
ws_message!(
    tokio_tungstenite::tungstenite::Message,
    tokio_tungstenite::tungstenite::protocol::CloseFrame,
    tokio_tungstenite::tungstenite::Utf8Bytes
);
