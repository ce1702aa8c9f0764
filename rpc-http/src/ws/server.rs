//! The server side of a WebSocket upgrade.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use rpc_core::duplex::DuplexConnection;
use rpc_core::Context;

use super::adapter::adapt;
use crate::http::serve::Serving;
use crate::http::Shared;

/// Upgrades an HTTP request and runs the connection until the peer leaves
/// or the server's shutdown has drained it.
pub(crate) fn accept(
    upgrade: WebSocketUpgrade,
    shared: Arc<Shared>,
    context: Context,
    serving: Option<Serving>,
) -> Response {
    // Counted as a connection of the server (and of the one serving the
    // app this router is mounted in) until it ends, so that a shutdown
    // waits for it.
    let held = shared.hold(serving.as_ref());
    let max = shared.dispatcher.limits().max_message_bytes;
    upgrade
        // Browsers that offer subprotocols (`jsonrpc`, and `bearer.TOKEN`
        // for credentials) need one chosen.
        .protocols(["jsonrpc"])
        // Buffers sized on demand: an idle connection holds a few KiB, not
        // tungstenite's default 128 KiB read buffer.
        .read_buffer_size(super::READ_BUFFER)
        .write_buffer_size(super::WRITE_BUFFER)
        .max_message_size(max)
        // Bounded output, control frames included: pongs answering a flood
        // of pings from a peer that does not read end the connection
        // instead of piling up.
        .max_write_buffer_size(super::max_write_buffer(max))
        .on_upgrade(move |socket| async move {
            let (incoming, outgoing) = adapt(socket);
            let connection = DuplexConnection::spawn(
                incoming,
                outgoing,
                shared.dispatcher.clone(),
                context,
                Some(&shared.connections),
                shared.duplex.clone(),
            );
            held.follow(&connection).await;
        })
}
