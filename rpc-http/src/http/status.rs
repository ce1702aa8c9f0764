//! The error an HTTP client meets when the server answers with an error
//! status and no JSON-RPC answer (also a refused WebSocket handshake).

/// An HTTP error status with a body that is no JSON-RPC answer; reach it
/// with `err.transport_error::<StatusError>()`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP status {status}: {body}")]
pub struct StatusError {
    /// The status code.
    pub status: u16,
    /// The start of the body (at most 200 bytes).
    pub body: String,
}

impl StatusError {
    /// The error for `status`, quoting the start of `body`.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn new(status: u16, body: &[u8]) -> Self {
        let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        StatusError { status, body }
    }
}
