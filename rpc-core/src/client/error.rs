//! What can go wrong with a call, as the caller sees it.

use std::time::Duration;

use crate::{ErrorObject, Id};

/// Everything that can go wrong with a call, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a JSON-RPC error object.
    #[error("server returned error {}: {}", .0.code, .0.message)]
    Call(ErrorObject),
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No answer within the allowed time.
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The HTTP server answered with an error status.
    #[error("HTTP status {status}: {body}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the body, for the message.
        body: String,
    },
    /// The answer is not JSON at all.
    #[error("response is not JSON: {0}")]
    NotJson(String),
    /// The answer is JSON but not a valid JSON-RPC 2.0 response.
    #[error("invalid JSON-RPC response: {0}")]
    InvalidResponse(String),
    /// The answer's id is not the id of the request.
    #[error("response id {got} does not match request id {expected}")]
    IdMismatch {
        /// The id we sent.
        expected: Id,
        /// The id that came back.
        got: Id,
    },
    /// The result does not decode into the declared type.
    #[error("cannot decode the result of `{method}`: {}", super::response::excerpt(&source.to_string()))]
    Decode {
        /// The method called.
        method: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The parameters could not be serialized.
    #[error("cannot encode the parameters: {0}")]
    Encode(serde_json::Error),
    /// The answer is larger than the client accepts.
    #[error("response larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The connection closed before the answer arrived.
    #[error("connection closed")]
    Closed,
    /// Another transport failure (I/O, protocol of the carrier).
    #[error("transport error: {0}")]
    Transport(String),
}

impl Error {
    /// The error object the server sent, if this is a JSON-RPC error.
    pub fn error_object(&self) -> Option<&ErrorObject> {
        match self {
            Error::Call(obj) => Some(obj),
            _ => None,
        }
    }

    /// Converts a server error into the application's own error type.
    ///
    /// Returns `Err(self)` when this is not a server error, or the
    /// application type does not recognise it (`TryFrom` failed).
    pub fn application<E: TryFrom<ErrorObject>>(self) -> Result<E, Error> {
        match self {
            Error::Call(obj) => E::try_from(obj.clone()).map_err(|_| Error::Call(obj)),
            other => Err(other),
        }
    }
}
