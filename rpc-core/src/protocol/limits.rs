//! The limits every server applies, with defaults safe for a public server.
//!
//! One set of defaults for every transport (HTTP, WebSocket, TCP and the
//! in-process one):
//!
//! | limit | default | what happens beyond it |
//! | --- | --- | --- |
//! | message size ([`Limits::max_message_bytes`]) | 5 MiB | HTTP 413 with error -32098; on TCP that error, then the connection closes; on WebSocket the connection closes |
//! | batch length ([`Limits::max_batch_len`]) | 1000 members | one -32098 error for the whole batch |
//! | run time of one message ([`Limits::request_timeout`]) | 60 s | each unfinished call answers -32097 "Request timed out" |
//!
//!
//! Nesting needs no limit of its own: the parser keeps params as raw JSON
//! (it never recurses into them), and decoding them into a handler's
//! types stops at serde_json's recursion limit of 128 levels, where the
//! call is answered -32602 naming the parameter.
//!
//! The network servers add connection limits (open connections, header
//! read timeout, shutdown grace period) with defaults of their own.

use std::time::Duration;

/// Largest message accepted by default: 5 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 5 * 1024 * 1024;

/// Longest one message may run by default: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Limits on incoming messages. [`Limits::default`] is safe for a public
/// server (see the [module documentation](self) for each default).
///
/// ```
/// use std::time::Duration;
/// let limits = rpc_core::Limits::default()
///     .with_request_timeout(Some(Duration::from_secs(5)))
///     .with_max_batch_len(100);
/// assert_eq!(limits.max_message_bytes, 5 * 1024 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message in bytes (default 5 MiB).
    pub max_message_bytes: usize,
    /// Most members a batch may have (default 1000).
    pub max_batch_len: usize,
    /// Longest the calls of one message may run before each unfinished one
    /// is answered with a timeout error (default 60 s; `None`: no limit).
    pub request_timeout: Option<Duration>,
    /// Largest answer to send (default: none). A longer one is replaced by
    /// error -32098 for each of its calls, or by one such error when even
    /// those do not fit; a duplex connection sets it to what its framing
    /// can carry (255 bytes behind a one-byte length prefix).
    pub max_response_bytes: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE,
            max_batch_len: 1000,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            max_response_bytes: None,
        }
    }
}

impl Limits {
    /// Sets [`max_message_bytes`](Self::max_message_bytes).
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets [`max_batch_len`](Self::max_batch_len).
    pub fn with_max_batch_len(mut self, len: usize) -> Self {
        self.max_batch_len = len;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }
}
