//! The server layer: the method table, the dispatcher every transport
//! calls, middleware, roles, per-call spans and metrics, the OpenRPC
//! document and its schemas, server-side subscriptions and topics, the
//! backplane between instances, and the registry of calls a peer may
//! cancel.
//!
//! It stands on [`protocol`](crate::protocol) alone: nothing here knows
//! the client or connections. A transport that pushes to its peer (the
//! duplex engine) plugs in through an outlet it puts in each call's
//! context, which server-side subscriptions push through.

pub mod auth;
pub mod backplane;
mod call;
pub(crate) mod cancel;
pub mod discover;
mod dispatch;
mod methods;
pub mod middleware;
mod observe;
pub mod schema;
pub mod subscription;
pub mod topics;

pub(crate) use dispatch::Dispatch;
pub use dispatch::Dispatcher;
pub use methods::{
    to_result, Handler, Method, MethodFuture, MethodInfo, MethodResult, MethodTable, ParamInfo,
    RegisterError, ServiceInfo, SubscriptionInfo,
};
