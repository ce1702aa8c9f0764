//! The protocol layer: what JSON-RPC 2.0 messages are and how they are
//! read and written. Ids, error objects, the one parser (requests,
//! notifications and responses alike) and the one encoder, params,
//! limits, the request context, subscription notices and
//! `$/cancelRequest` on the wire.
//!
//! This layer imports nothing else of this crate: the server, the client
//! and the duplex engine all stand on it.

pub mod cancel;
mod context;
pub(crate) mod encode;
mod error;
pub mod id;
mod invalid;
pub mod limits;
pub(crate) mod message;
pub(crate) mod notice;
mod params;
pub mod response;
pub mod trace;

pub use context::{
    Context, Deadline, LastEventId, PeerCredentials, TransportKind, DEADLINE_HEADER,
};
pub use error::{code, BoxError, ErrorObject};
pub use id::Id;
pub use invalid::InvalidResponse;
pub(crate) use invalid::{excerpt, EXCERPT};
pub use limits::{Limits, DEFAULT_MAX_MESSAGE, DEFAULT_REQUEST_TIMEOUT};
pub use notice::lagged;
pub use params::{Params, ParamsDecoder};
