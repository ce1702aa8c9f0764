//! What can go wrong with a call, as the caller sees it.

use std::time::Duration;

use crate::protocol::{BoxError, ErrorObject, Id, InvalidResponse};

/// Everything that can go wrong with a call, as the caller sees it. Each
/// variant is a situation a caller can act on; the underlying error, when
/// there is one, is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a JSON-RPC error object.
    #[error("server returned error {}: {}", .0.code, .0.message)]
    Call(ErrorObject),
    /// A setting that cannot be used (a URL, a header, a certificate, a
    /// proxy): what builders return, here when it surfaced from a call
    /// that also connects.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The connection could not be made (refused, unreachable, TLS handshake).
    #[error("cannot connect: {0}")]
    Connect(#[source] BoxError),
    /// No answer within the allowed time.
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The transport failed on an established connection; for HTTP an
    /// error status is `rpc_http::http::StatusError`, reachable with
    /// [`Error::transport_error`].
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),
    /// The answer is not JSON at all.
    #[error("response is not JSON ({source}): {excerpt}")]
    NotJson {
        /// The start of what came back.
        excerpt: String,
        /// Where parsing stopped.
        source: serde_json::Error,
    },
    /// The answer is JSON but not a valid JSON-RPC 2.0 response.
    #[error("invalid JSON-RPC response: {0}")]
    InvalidResponse(#[from] InvalidResponse),
    /// The answer's id is not the id of the request.
    #[error("response id {got} does not match request id {expected}")]
    IdMismatch {
        /// The id we sent.
        expected: Id,
        /// The id that came back.
        got: Id,
    },
    /// The result does not decode into the declared type.
    #[error("cannot decode the result of `{method}`: {}", crate::protocol::excerpt(&source.to_string()))]
    Decode {
        /// The method called.
        method: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The parameters could not be serialized.
    #[error("cannot encode the parameters: {0}")]
    Encode(#[source] serde_json::Error),
    /// The answer is larger than the client accepts.
    #[error("response larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A call or notification too long for the connection's framing (255
    /// bytes behind a one-byte length prefix, say).
    #[error("message of {size} bytes exceeds the framing's limit of {limit} bytes")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The framing's limit.
        limit: usize,
    },
    /// What was asked needs what this transport does not offer (a
    /// subscription over plain HTTP, say).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The connection closed before the answer arrived.
    #[error("connection closed")]
    Closed,
    /// The connection was lost after the call was sent and before its
    /// answer came: the server may or may not have run it. A reconnecting
    /// client fails calls this way unless they are idempotent (those it
    /// sends again once reconnected).
    #[error("connection lost while the call was in flight: it may or may not have run")]
    ConnectionLost,
    /// Not connected: a reconnecting client that fails calls while it
    /// reconnects (rather than hold them), or one that gave up.
    #[error("not connected ({0})")]
    Disconnected(String),
    /// The connection ended because a message broke the transport's rules
    /// (on WebSocket: 1009 for a message over the size limit, 1002 for a
    /// protocol error), before the answer arrived.
    #[error("connection ended: {reason} (close code {code})")]
    Ended {
        /// The close code.
        code: u16,
        /// Why.
        reason: &'static str,
    },
}

/// A client or server setting that cannot be used, found when it is set
/// (builders return it) rather than when a call runs; a mistake in the
/// program or its configuration, not a call's outcome. It converts into
/// [`Error`], so `?` works in either.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint's URL is not one this client can use.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value is not valid HTTP.
    #[error("invalid header `{name}`: {source}")]
    InvalidHeader {
        /// The header's name as given.
        name: String,
        /// What the HTTP library said.
        source: BoxError,
    },
    /// Another setting that cannot be used (a certificate, a proxy, an
    /// origin).
    #[error("invalid setting ({setting}): {source}")]
    Setting {
        /// Which setting.
        setting: &'static str,
        /// Why.
        source: BoxError,
    },
}

impl Error {
    /// The transport's own error, if this is one of type `T` (for HTTP,
    /// `rpc_http::http::StatusError` carries the status).
    pub fn transport_error<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            Error::Transport(e) | Error::Connect(e) => e.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// The error object the server sent, if this is a JSON-RPC error.
    pub fn error_object(&self) -> Option<&ErrorObject> {
        match self {
            Error::Call(obj) => Some(obj),
            _ => None,
        }
    }

    /// The server's error as the application's own error type (its
    /// `TryFrom<ErrorObject>`, which `#[derive(RpcError)]` writes); `None`
    /// when this is not a server error or the type does not recognise it.
    /// It borrows: the error can still be logged or returned after.
    ///
    /// ```
    /// # use rpc_core::{Error, ErrorObject};
    /// #[derive(Debug, PartialEq)]
    /// struct NotFound;
    /// impl TryFrom<ErrorObject> for NotFound {
    ///     type Error = ErrorObject;
    ///     fn try_from(e: ErrorObject) -> Result<Self, ErrorObject> {
    ///         if e.code == -32044 { Ok(NotFound) } else { Err(e) }
    ///     }
    /// }
    /// let err = Error::Call(ErrorObject::new(-32044, "no such item"));
    /// assert_eq!(err.application::<NotFound>(), Some(NotFound));
    /// eprintln!("{err}"); // still ours
    /// assert_eq!(Error::Closed.application::<NotFound>(), None);
    /// ```
    pub fn application<E: TryFrom<ErrorObject>>(&self) -> Option<E> {
        match self {
            Error::Call(obj) => E::try_from(obj.clone()).ok(),
            _ => None,
        }
    }
}
