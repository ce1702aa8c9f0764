//! WebSocket: the server side of an upgrade (on the HTTP server's route)
//! and the client ([`connect`]). Both run the shared duplex engine through
//! one adapter that only converts frames.

mod adapter;
mod client;
mod server;

pub use client::{connect, connect_with};
pub(crate) use server::accept;
