//! WebSocket: the server side of an upgrade, and the client. Both run the
//! shared duplex engine; this module only converts frames.

use std::future::ready;
use std::sync::Arc;

use axum::extract::ws::{Message as AxumMessage, Utf8Bytes as AxumText, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rpc_core::duplex::{DuplexConfig, DuplexConnection, Frame};
use rpc_core::{Context, Dispatcher, Error, MethodTable};
use tokio_tungstenite::tungstenite::{self, Message as TungMessage};

use crate::server::Shared;

/// Upgrades an HTTP request and runs the connection until the peer leaves
/// or the server shuts down.
pub(crate) fn accept(upgrade: WebSocketUpgrade, shared: Arc<Shared>, context: Context) -> Response {
    upgrade
        .max_message_size(shared.max_body_bytes)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let incoming = stream
                .take_while(|m| {
                    ready(matches!(m, Ok(msg) if !matches!(msg, AxumMessage::Close(_))))
                })
                .filter_map(|m| {
                    ready(match m {
                        Ok(AxumMessage::Text(text)) => Some(Ok(Bytes::from(text))),
                        Ok(AxumMessage::Binary(bytes)) => Some(Ok(bytes)),
                        _ => None,
                    })
                });
            let outgoing = sink.with(|frame: Frame| {
                ready(Ok::<_, axum::Error>(match frame {
                    Frame::Message(bytes) => match AxumText::try_from(bytes.clone()) {
                        Ok(text) => AxumMessage::Text(text),
                        Err(_) => AxumMessage::Binary(bytes),
                    },
                    Frame::Ping => AxumMessage::Ping(Bytes::new()),
                }))
            });
            let connection = DuplexConnection::spawn(
                Box::pin(incoming),
                Box::pin(outgoing),
                shared.dispatcher.clone(),
                context,
                Some(&shared.connections),
                shared.duplex.clone(),
            );
            tokio::select! {
                _ = connection.closed() => {}
                _ = shared.shutdown.cancelled() => connection.close(),
            }
        })
}

/// Connects to a WebSocket JSON-RPC server (`ws://host:port/path`).
///
/// The connection is a [`Transport`](rpc_core::Transport): wrap it in a
/// generated client. `methods` serves what the server sends this client
/// (notifications such as `tick`); pass `MethodTable::new()` to ignore them.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let connection = rpc_http::ws::connect("ws://127.0.0.1:3000/", rpc_core::MethodTable::new()).await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str, methods: MethodTable) -> Result<DuplexConnection, Error> {
    connect_with(url, methods, DuplexConfig::default()).await
}

/// [`connect`] with explicit engine settings.
pub async fn connect_with(
    url: &str,
    methods: MethodTable,
    config: DuplexConfig,
) -> Result<DuplexConnection, Error> {
    let (socket, _response) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Io(io) => Error::Connect(io.to_string()),
            tungstenite::Error::Http(response) => Error::HttpStatus {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            },
            other => Error::Connect(other.to_string()),
        })?;
    let (sink, stream) = socket.split();
    let incoming = stream
        .take_while(|m| ready(matches!(m, Ok(msg) if !matches!(msg, TungMessage::Close(_)))))
        .filter_map(|m| {
            ready(match m {
                Ok(TungMessage::Text(text)) => Some(Ok(Bytes::from(text))),
                Ok(TungMessage::Binary(bytes)) => Some(Ok(bytes)),
                _ => None,
            })
        });
    let outgoing = sink.with(|frame: Frame| {
        ready(Ok::<_, tungstenite::Error>(match frame {
            Frame::Message(bytes) => match tungstenite::Utf8Bytes::try_from(bytes.clone()) {
                Ok(text) => TungMessage::Text(text),
                Err(_) => TungMessage::Binary(bytes),
            },
            Frame::Ping => TungMessage::Ping(Bytes::new()),
        }))
    });
    Ok(DuplexConnection::spawn(
        Box::pin(incoming),
        Box::pin(outgoing),
        Dispatcher::new(methods),
        Context::new(),
        None,
        config,
    ))
}
