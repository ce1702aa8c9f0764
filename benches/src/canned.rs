//! A server that answers every call with a canned result, for measuring
//! what a client costs: it runs in a child process (this binary with
//! `--serve canned`), so the CPU time this process spends during a client
//! row is the client's alone.

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::{header, Request};
use axum::response::{IntoResponse, Response};

/// `{"jsonrpc":"2.0","result":19,"id":ID}` with the call's id, found by a
/// plain scan (the id is a number or a string without commas in both
/// clients' requests).
fn answer(call: &[u8]) -> Vec<u8> {
    let id = call
        .windows(5)
        .position(|w| w == b"\"id\":")
        .map(|at| {
            let rest = &call[at + 5..];
            let end = rest
                .iter()
                .position(|&b| b == b',' || b == b'}')
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .unwrap_or(b"null");
    let mut out = Vec::with_capacity(40 + id.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","result":19,"id":"#);
    out.extend_from_slice(id);
    out.push(b'}');
    out
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) => answer(text.as_bytes()),
            Message::Binary(bytes) => answer(&bytes),
            Message::Close(_) => return,
            _ => continue,
        };
        let Ok(text) = String::from_utf8(reply) else {
            return;
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

/// POST: the canned answer; GET with an upgrade: a WebSocket answering
/// each message the same way.
async fn handle(request: Request<axum::body::Body>) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts.method == axum::http::Method::GET {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade.on_upgrade(echo).into_response(),
            Err(refused) => refused.into_response(),
        };
    }
    let Ok(call) = axum::body::to_bytes(body, 1 << 20).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(answer(&call)),
    )
        .into_response()
}

/// Serves on a free port.
pub async fn serve() -> std::net::SocketAddr {
    crate::servers::serve_axum(axum::Router::new().fallback(handle)).await
}

/// CPU time (user + system) this process has used so far, in seconds.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line (11 and 12 here),
    // in clock ticks of 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_carry_the_callers_id() {
        assert_eq!(
            super::answer(br#"{"jsonrpc":"2.0","id":7,"method":"subtract","params":[42,23]}"#),
            br#"{"jsonrpc":"2.0","result":19,"id":7}"#
        );
        assert_eq!(
            super::answer(br#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":"a1"}"#),
            br#"{"jsonrpc":"2.0","result":19,"id":"a1"}"#
        );
    }
}
