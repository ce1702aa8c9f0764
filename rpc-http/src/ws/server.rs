//! The server side of a WebSocket upgrade.
//!
//! axum's extractor checks the upgrade request (its rejections answer a
//! malformed one); the 101 answer and the socket are ours, so that the
//! socket reads through [`ReadAhead`] and one task per connection awaits
//! the upgrade and then follows the server's shutdown.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rpc_core::duplex::DuplexConnection;
use rpc_core::Context;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::adapter::adapt;
use super::read_ahead::ReadAhead;
use crate::http::serve::Serving;
use crate::http::Shared;

/// The subprotocol chosen when the client offers it. Browsers that offer
/// subprotocols (`jsonrpc`, and `bearer.TOKEN` for credentials) need one
/// chosen.
const SUBPROTOCOL: &str = "jsonrpc";

/// An upgrade request that passed axum's checks: the upgrade to await and
/// the 101 answer that starts it.
pub(crate) struct Upgrade {
    on_upgrade: OnUpgrade,
    response: Response,
}

impl Upgrade {
    /// Checks an upgrade request: axum's rejection answers a malformed one.
    /// The request's headers are then copied out of hyper's read buffer,
    /// but for those only the handshake reads: handlers see them for the
    /// connection's whole life, and would otherwise keep that buffer (8 KiB
    /// per connection, for a few hundred bytes of headers).
    pub(crate) async fn check(parts: &mut Parts) -> Result<Upgrade, Response> {
        // The extractor takes the upgrade out of the request; a clone stays.
        let on_upgrade = parts.extensions.get::<OnUpgrade>().cloned();
        if let Err(rejection) = WebSocketUpgrade::from_request_parts(parts, &()).await {
            return Err(rejection.into_response());
        }
        let (Some(on_upgrade), Some(key)) =
            (on_upgrade, parts.headers.get(header::SEC_WEBSOCKET_KEY))
        else {
            return Err(StatusCode::UPGRADE_REQUIRED.into_response());
        };
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if offers_subprotocol(&parts.headers) {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            );
        }
        parts.headers = detached(&parts.headers);
        Ok(Upgrade {
            on_upgrade,
            response,
        })
    }
}

/// Answers 101 and runs the connection, once upgraded, until the peer
/// leaves or the server's shutdown has drained it.
pub(crate) fn accept(
    upgrade: Upgrade,
    shared: Arc<Shared>,
    context: Context,
    serving: Option<Serving>,
) -> Response {
    let Upgrade {
        on_upgrade,
        response,
    } = upgrade;
    // Counted as a connection of the server (and of the one serving the
    // app this router is mounted in) until it ends, so that a shutdown
    // waits for it.
    let held = shared.hold(serving.as_ref());
    let config = config(shared.dispatcher.limits().max_message_bytes);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "a WebSocket upgrade failed");
                return;
            }
        };
        let io = ReadAhead::new(TokioIo::new(upgraded));
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let (incoming, outgoing) = adapt(socket);
        let connection = DuplexConnection::spawn(
            incoming,
            outgoing,
            shared.dispatcher.clone(),
            context,
            Some(&shared.connections),
            shared.duplex.clone(),
        );
        drop(shared);
        held.follow(&connection).await;
    });
    response
}

/// tungstenite's settings for a server's connection whose messages are at
/// most `max` bytes.
fn config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        // Kept for the connection's whole life and zeroed before each read:
        // small, with larger reads done by `ReadAhead` while bytes keep
        // coming. It grows to hold a whole frame when one arrives.
        .read_buffer_size(super::SERVER_READ_BUFFER)
        .write_buffer_size(super::WRITE_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        // Bounded output, control frames included: pongs answering a flood
        // of pings from a peer that does not read end the connection
        // instead of piling up.
        .max_write_buffer_size(super::max_write_buffer(max))
}

/// Whether the client offers our subprotocol among its
/// `Sec-WebSocket-Protocol` values.
fn offers_subprotocol(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .any(|offered| offered.trim_ascii() == SUBPROTOCOL.as_bytes())
}

/// The headers that only the handshake reads: a connection does not keep
/// them.
const HANDSHAKE: [header::HeaderName; 5] = [
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// A copy of `headers`, but for the [`HANDSHAKE`]'s, that shares no memory
/// with the request they came in.
fn detached(headers: &HeaderMap) -> HeaderMap {
    let kept = || headers.iter().filter(|(name, _)| !HANDSHAKE.contains(name));
    let mut copy = HeaderMap::with_capacity(kept().count());
    for (name, value) in kept() {
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        copy.append(name.clone(), owned);
    }
    copy
}
