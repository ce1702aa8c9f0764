//! Error objects and the standard error codes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Standard and framework error codes.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error (also: a handler panicked).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The caller lacks the role the method requires ("Unauthorized").
    pub const UNAUTHORIZED: i64 = -32001;
    /// The caller cancelled the call (`$/cancelRequest`, LSP's code).
    pub const REQUEST_CANCELLED: i64 = -32800;
    /// A method that needs a duplex connection (WebSocket, TCP) was called
    /// over plain HTTP.
    pub const DUPLEX_REQUIRED: i64 = -32002;
    /// A subscription ended because its subscriber did not keep up.
    pub const SUBSCRIPTION_LAGGED: i64 = -32004;
    /// Refused to protect the server: a rate limit or load shedding.
    pub const OVERLOADED: i64 = -32005;
    /// The request did not finish within the server's per-request timeout.
    pub const REQUEST_TIMEOUT: i64 = -32097;
    /// The request (body or batch) is larger than the server accepts.
    pub const REQUEST_TOO_LARGE: i64 = -32098;
    /// The server is shutting down and accepts no new requests.
    pub const SHUTTING_DOWN: i64 = -32099;
}

/// A JSON-RPC error object: `{"code": .., "message": .., "data": ..}`.
///
/// Application errors convert into it (`impl From<MyError> for ErrorObject`),
/// and a client can convert it back (`impl TryFrom<ErrorObject> for MyError`).
///
/// ```
/// use rpc_core::ErrorObject;
/// let e = ErrorObject::new(-32000, "Division by zero").with_data(serde_json::json!({"b": 0}));
/// assert_eq!(
///     serde_json::to_string(&e).unwrap(),
///     r#"{"code":-32000,"message":"Division by zero","data":{"b":0}}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code.
    pub code: i64,
    /// A short description of the error.
    pub message: Cow<'static, str>,
    /// Additional information, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and a message and no data.
    pub fn new(code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// -32700 "Parse error", with a detail.
    pub fn parse_error(detail: impl fmt::Display) -> Self {
        ErrorObject::new(code::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// -32600 "Invalid Request", with a detail.
    pub fn invalid_request(detail: impl fmt::Display) -> Self {
        ErrorObject::new(code::INVALID_REQUEST, format!("Invalid Request: {detail}"))
    }

    /// -32601 "Method not found", naming the method.
    pub fn method_not_found(method: &str) -> Self {
        ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// -32602 "Invalid params", with a detail that names the parameter.
    pub fn invalid_params(detail: impl fmt::Display) -> Self {
        ErrorObject::new(code::INVALID_PARAMS, format!("Invalid params: {detail}"))
    }

    /// -32603 "Internal error", with a detail.
    pub fn internal_error(detail: impl fmt::Display) -> Self {
        ErrorObject::new(code::INTERNAL_ERROR, format!("Internal error: {detail}"))
    }

    /// -32603 "Internal error" carrying `error`'s `Display` text followed by
    /// that of each of its sources, joined by `": "` as `anyhow` prints a
    /// chain with `{:#}`. A source whose text the message already holds
    /// (`#[error("reading config: {0}")]` over its `#[source]`) is not
    /// repeated.
    ///
    /// This is what `#[rpc]` answers when a method fails with an error type
    /// that is not `Into<ErrorObject>` but is a `std::error::Error` (or, like
    /// `anyhow::Error` and `Box<dyn Error + Send + Sync>`, holds one). The text
    /// reaches the caller: map errors whose text must stay private to an error
    /// type of your own first (`#[derive(RpcError)]`).
    ///
    /// ```
    /// use rpc_core::ErrorObject;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("reading config")]
    /// struct ConfigError(#[source] std::io::Error);
    ///
    /// let error = ConfigError(std::io::Error::other("permission denied"));
    /// let object = ErrorObject::from_error(&error);
    /// assert_eq!(object.code, rpc_core::code::INTERNAL_ERROR);
    /// assert_eq!(object.message, "Internal error: reading config: permission denied");
    /// ```
    pub fn from_error(error: &dyn std::error::Error) -> Self {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(error) = source {
            let more = error.to_string();
            if !more.is_empty() && !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            source = error.source();
        }
        ErrorObject::internal_error(text)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorObject {}

/// Lets handlers return `Result<T, ErrorObject>` directly.
impl From<std::convert::Infallible> for ErrorObject {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// Any error, as transports report their own (the HTTP crate's status
/// error, I/O, TLS).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
