//! The duplex connection engine shared by WebSocket and TCP: both sides send
//! requests and notifications over one long-lived connection.
//!
//! A transport turns its connection into a stream of incoming messages and
//! a sink of outgoing [`Frame`]s and calls [`DuplexConnection::spawn`]. The
//! engine then answers the peer's requests through a
//! [`Dispatcher`](crate::server::Dispatcher) (each as soon as it completes, no
//! head-of-line blocking), matches the peer's responses to our pending
//! calls by id, and fails every pending call when the connection ends.
//!
//! How a connection ends:
//! - the peer leaves, or [`DuplexConnection::close`]: calls still running
//!   for the peer are cancelled (their futures dropped), our pending calls
//!   fail with [`Error::Closed`](crate::client::Error::Closed);
//! - [`DuplexConnection::drain`] (a server shutting down): no new request is
//!   run (each is answered -32099 "Server is shutting down"), the calls in
//!   flight are answered, then a [`Frame::Close`] with code 1001 ends it;
//! - the peer finishes sending ([`Incoming::Finished`], a byte stream's end
//!   of file): nothing more is read, the calls still running get
//!   [`DuplexConfig::half_close_grace`] to be answered (a peer that
//!   half-closed reads them), then the connection ends as when the peer
//!   leaves (a half-close cannot be told from a close, and closing must
//!   cancel).
//!
//! Every incoming message goes to the dispatcher, which parses it once
//! with the one message parser: requests run, and a message of responses
//! comes back through `route` to `pending`, the calls awaiting answers.
//! Notifications sent alone start in the order they arrived, each once the
//! one before has finished or has run for a second (inside a batch they run
//! with its other members); requests run concurrently, never behind them.
//!
//! The parts: `connection` (starting a connection, and what its
//! [handle](DuplexConnection) does), `shared` (what the handle, the loops
//! and the registry share), `reader` and `writer` (the two loops), `route`
//! (where each incoming message goes), `pending` (our calls awaiting
//! answers), `budget` (the byte budgets of what is queued), `registry`
//! ([`Connections`]), `reconnect` (a client that survives its connection).
//! None of them imports one that imports it back.

mod budget;
mod connection;
mod keep_alive;
mod pending;
mod reader;
pub mod reconnect;
mod registry;
mod route;
mod shared;
mod writer;

use bytes::Bytes;

pub use budget::{
    DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_RUNNING_BYTES, DEFAULT_MAX_SERVER_QUEUED_BYTES,
    DEFAULT_MAX_SERVER_RUNNING_BYTES,
};
pub use connection::{caller, connections};
pub use keep_alive::{InvalidKeepAlive, KeepAlive};
pub use registry::{Connections, RunningHold};
pub use shared::DuplexConnection;

/// A frame for the transport to write to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON-RPC message.
    Message(Bytes),
    /// A keep-alive probe (a WebSocket ping; byte streams write nothing).
    Ping,
    /// The last frame: the connection ends (a WebSocket close frame with
    /// this code and reason; byte streams just shut down their write side).
    Close {
        /// The WebSocket close code (1001 "going away" on shutdown).
        code: u16,
        /// A short reason for the peer.
        reason: &'static str,
    },
}

/// The close code a draining server sends: 1001, "going away".
pub const GOING_AWAY: u16 = 1001;

/// What a transport hands the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A JSON-RPC message.
    Message(Bytes),
    /// A sign of life without a message (a WebSocket pong or ping): it
    /// counts for the keep-alive's deadline.
    Alive,
    /// The peer has finished sending (a byte stream's end of file). A TCP
    /// half-close looks the same as a close, and a closed connection must
    /// cancel its calls: the connection ends, as when the stream ends.
    Finished,
    /// The peer broke the transport's rules (a WebSocket protocol error, a
    /// message over the size limit): the connection ends with a
    /// [`Frame::Close`] carrying this code and reason.
    Violation {
        /// The close code (1002 protocol error, 1007 invalid data, 1009 too big).
        code: u16,
        /// A short reason for the peer.
        reason: &'static str,
    },
}

/// How long a write to a peer may stall by default: 30 s.
pub const DEFAULT_WRITE_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// Settings of one duplex connection.
#[derive(Clone, Debug)]
pub struct DuplexConfig {
    /// Most peer requests handled at once on this connection; more wait
    /// (reading pauses), none is dropped. Default 1024.
    pub max_in_flight: usize,
    /// Pings and their deadline; `None` disables them. Default: a ping
    /// every 30 s, and a peer heard from neither within 20 s after is gone.
    pub keep_alive: Option<KeepAlive>,
    /// Outgoing frames queued before senders wait. Default 1024.
    pub send_queue: usize,
    /// Bytes queued toward the peer (answers, notifications, subscription
    /// items, broadcasts not yet written) before senders wait and reading
    /// from the peer pauses. One message larger than this still goes,
    /// alone. Default [`DEFAULT_MAX_QUEUED_BYTES`] (1 MiB); a server's
    /// connections also share its registry's budget
    /// ([`Connections::with_max_queued_bytes`]).
    pub max_queued_bytes: usize,
    /// Bytes of the peer's messages whose calls are still running (each is
    /// kept while they run): past it, reading from the peer pauses until
    /// calls finish. Messages answered at once do not count. Default
    /// [`DEFAULT_MAX_RUNNING_BYTES`] (4 MiB); a server's connections also
    /// share its registry's ([`Connections::with_max_running_bytes`]).
    pub max_running_bytes: usize,
    /// How long one write to the peer may make no progress before the
    /// connection is closed: a peer that does not read is closed, whatever
    /// pings or calls it keeps sending. Default 30 s; `None`: never.
    pub write_stall: Option<std::time::Duration>,
    /// Largest message the framing can carry (255 bytes for a 1-byte length
    /// prefix). A longer answer is replaced by an error answer; a longer
    /// call or notification fails. Default: no limit.
    pub max_message: Option<usize>,
    /// After the peer's end of file on a byte stream, how long its calls
    /// still running may go on to be answered before the connection closes
    /// and cancels the rest. A peer that half-closes (`SHUT_WR`, as
    /// `nc -N` does) gets the answers of calls that finish within it; a
    /// peer that closed cannot be told from one that half-closed, and its
    /// calls stop within it. Default [`DEFAULT_HALF_CLOSE_GRACE`] (1 s).
    pub half_close_grace: std::time::Duration,
}

/// How long a byte stream's calls may run on after the peer's end of file
/// by default: 1 s.
pub const DEFAULT_HALF_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for DuplexConfig {
    fn default() -> Self {
        DuplexConfig {
            max_in_flight: 1024,
            keep_alive: Some(KeepAlive::default()),
            send_queue: 1024,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            max_running_bytes: DEFAULT_MAX_RUNNING_BYTES,
            write_stall: Some(DEFAULT_WRITE_STALL),
            max_message: None,
            half_close_grace: DEFAULT_HALF_CLOSE_GRACE,
        }
    }
}
