//! The one entry point every transport calls: bytes in, bytes (or nothing) out.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, FutureExt};
use serde_json::value::RawValue;

use crate::request::{self, Entry, Message, ParseLimits, Rejected, Request};
use crate::response::{error_response, write_batch, write_response};
use crate::{code, discover, Context, ErrorObject, MethodResult, MethodTable};

/// Limits the dispatcher enforces. The defaults are safe for a public server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most members a batch may have (default 1000).
    pub max_batch_len: usize,
    /// Deepest nesting of arrays/objects in a message (default 64).
    pub max_depth: usize,
    /// Longest a single call may run before it is answered with a timeout
    /// error (default: none; transports set their own).
    pub request_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        let parse = ParseLimits::default();
        Limits {
            max_batch_len: parse.max_batch_len,
            max_depth: parse.max_depth,
            request_timeout: None,
        }
    }
}

/// Runs messages against a [`MethodTable`].
///
/// Cheap to clone; share one between all connections of a server.
///
/// ```
/// use rpc_core::{Context, Dispatcher, MethodInfo, MethodTable, Params};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut table = MethodTable::new();
/// table.register(MethodInfo::named("add"), |p: Params<'_>, _: &Context| {
///     let mut p = p.decoder(&["a", "b"])?;
///     let (a, b): (i64, i64) = (p.required(0)?, p.required(1)?);
///     Ok(async move { Ok::<_, rpc_core::ErrorObject>(a + b) })
/// }).unwrap();
/// let dispatcher = Dispatcher::new(table);
/// let out = dispatcher.handle(br#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#, &Context::new()).await;
/// assert_eq!(out.unwrap(), br#"{"jsonrpc":"2.0","result":3,"id":1}"#);
/// # });
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    methods: Arc<MethodTable>,
    limits: Limits,
}

impl Dispatcher {
    /// A dispatcher with default limits.
    pub fn new(methods: MethodTable) -> Self {
        Dispatcher {
            methods: Arc::new(methods),
            limits: Limits::default(),
        }
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The method table.
    pub fn methods(&self) -> &MethodTable {
        &self.methods
    }

    /// Handles one message (a request, a notification or a batch) and returns
    /// the bytes to send back, or `None` when nothing is to be sent (a
    /// notification, or a batch of notifications only).
    ///
    /// Batch members run concurrently; their answers keep request order. A
    /// handler that panics is answered with -32603 for its own request only.
    pub async fn handle(&self, body: &[u8], ctx: &Context) -> Option<Vec<u8>> {
        let parse_limits = ParseLimits {
            max_batch_len: self.limits.max_batch_len,
            max_depth: self.limits.max_depth,
        };
        match request::parse(body, &parse_limits) {
            Err(Rejected(error)) => Some(error_response(&error)),
            Ok(Message::Single(entry)) => self.entry(entry, ctx).await,
            Ok(Message::Batch(entries)) => {
                let answers = join_all(entries.into_iter().map(|e| self.entry(e, ctx))).await;
                write_batch(answers.into_iter().flatten())
            }
        }
    }

    async fn entry(&self, entry: Entry<'_>, ctx: &Context) -> Option<Vec<u8>> {
        match entry {
            Entry::Invalid { id, error } => Some(answer(id, &Err(error))),
            Entry::Notification(request) => {
                if let Err(e) = self.call(&request, ctx).await {
                    tracing::debug!(method = %request.method, error = %e, "notification failed");
                }
                None
            }
            Entry::Request(request) => {
                let outcome = self.call(&request, ctx).await;
                Some(answer(request.id, &outcome))
            }
        }
    }

    /// Runs one call: lookup, decode, handler, with panic and timeout guards.
    async fn call(&self, request: &Request<'_>, ctx: &Context) -> MethodResult {
        let Some(method) = self.methods.get(&request.method) else {
            return match request.method.as_ref() {
                discover::METHOD => crate::to_result(&discover::document(&self.methods)),
                name => Err(ErrorObject::method_not_found(name)),
            };
        };
        let started =
            std::panic::catch_unwind(AssertUnwindSafe(|| (method.handler)(request.params, ctx)));
        let future = match started {
            Ok(future) => AssertUnwindSafe(future).catch_unwind(),
            Err(_) => return Err(panicked(&request.method)),
        };
        let outcome = match self.limits.request_timeout {
            None => future.await,
            Some(limit) => match tokio::time::timeout(limit, future).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(ErrorObject::new(
                        code::REQUEST_TIMEOUT,
                        format!("Request timed out after {} ms", limit.as_millis()),
                    ))
                }
            },
        };
        outcome.unwrap_or_else(|_| Err(panicked(&request.method)))
    }
}

fn panicked(method: &str) -> ErrorObject {
    tracing::error!(method, "handler panicked");
    ErrorObject::internal_error(format_args!("method `{method}` panicked"))
}

fn answer(id: Option<&RawValue>, outcome: &MethodResult) -> Vec<u8> {
    let size = outcome.as_ref().map_or(96, |r| r.get().len() + 40);
    let mut out = Vec::with_capacity(size);
    write_response(&mut out, id, outcome);
    out
}
