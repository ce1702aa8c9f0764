//! The one entry point every transport calls: bytes in, bytes (or nothing) out.

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Instant;

use futures_util::future::{CatchUnwind, FutureExt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::value::RawValue;
use tracing::Instrument;

use super::call::{begin, Begun};
use super::cancel::{Registered, Running};
use crate::protocol::cancel;
use crate::protocol::message::{self, Entry, Message};
use crate::protocol::response::{error_response, response_around, write_batch, write_response};
use crate::protocol::{code, Context, ErrorObject, Id, Limits, Params};
use crate::server::middleware::{
    error_object, Call as LayerCall, CallFuture, CallLayer, CallService, Handlers,
};
use crate::server::observe::{self, Meters, Observed, Tally};
use crate::server::{discover, MethodFuture, MethodResult, MethodTable};

/// Runs messages against a [`MethodTable`].
///
/// Cheap to clone; share one between all connections of a server.
///
/// ```
/// use rpc_core::{Context, Dispatcher, MethodInfo, MethodTable, Params};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
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
    /// The OpenRPC document, built on first request: the table never changes.
    discovery: Arc<OnceLock<Box<RawValue>>>,
    /// The middleware around every call; `None`: handlers are called
    /// directly (the fast path).
    stack: Option<CallService>,
    /// Per-call metric handles, when metrics are on.
    meters: Option<Arc<Meters>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("methods", &self.methods.len())
            .field("limits", &self.limits)
            .field("layers", &self.stack.is_some())
            .field("metrics", &self.meters.is_some())
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher with default limits.
    pub fn new(methods: MethodTable) -> Self {
        Dispatcher {
            methods: Arc::new(methods),
            limits: Limits::default(),
            discovery: Arc::default(),
            stack: None,
            meters: None,
        }
    }

    /// Records per-call metrics through the `metrics` facade (a recorder,
    /// such as a Prometheus exporter, must be installed):
    /// `rpc_server_calls_total` {method, transport},
    /// `rpc_server_errors_total` {method, code},
    /// `rpc_server_duration_seconds` {method}, and the gauge
    /// `rpc_server_calls_in_flight` (calls still running after their first
    /// poll: one answered at once is never counted, and moves no shared
    /// atomic). A method that is not registered is
    /// labelled `<unknown>`, so labels stay bounded whatever callers send.
    /// A server's open duplex connections are the gauge
    /// `rpc_server_connections` {transport}. Off by default. (Spans and a debug event per call, target
    /// `rpc::call`, are always there for a `tracing` subscriber that wants them.)
    ///
    /// The handles are registered here, once: install the recorder before.
    pub fn with_metrics(mut self) -> Self {
        self.meters = Some(Arc::new(Meters::new(&self.methods)));
        self
    }

    /// Wraps every call in `layer` (a tower layer over a
    /// [`CallService`]): single calls, each member of a batch and
    /// notifications, on every transport. Each call to `with_layer` wraps
    /// what is there: the layer added last sees a call first. See
    /// [`middleware`](crate::server::middleware).
    pub fn with_layer(mut self, layer: impl CallLayer) -> Self {
        let inner = match self.stack.take() {
            Some(stack) => stack,
            None => CallService::handlers(self.handlers()),
        };
        self.stack = Some(layer.wrap(inner));
        self
    }

    /// Whether calls are recorded as metrics.
    pub fn records_metrics(&self) -> bool {
        self.meters.is_some()
    }

    /// Whether any middleware is in place.
    pub fn has_layers(&self) -> bool {
        self.stack.is_some()
    }

    /// The service at the bottom of the middleware: role check and handler.
    fn handlers(&self) -> Handlers {
        let (methods, discovery) = (self.methods.clone(), self.discovery.clone());
        let table = methods.clone();
        Handlers {
            methods,
            discovery: Arc::new(move || {
                discovery
                    .get_or_init(|| render_discovery(&table))
                    .to_owned()
            }),
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

    /// The OpenRPC document of the methods, as `rpc.discover` returns it.
    pub fn discovery_document(&self) -> &RawValue {
        self.discovery
            .get_or_init(|| render_discovery(&self.methods))
    }

    /// Handles one message (a request, a notification or a batch) and returns
    /// the bytes to send back, or `None` when nothing is to be sent (a
    /// notification, or a batch of notifications only).
    ///
    /// Batch members run concurrently; their answers keep request order. A
    /// handler that panics is answered with -32603 for its own request only.
    pub async fn handle(&self, body: &[u8], ctx: &Context) -> Option<Vec<u8>> {
        match self.parse(body) {
            Ok(message) => self.dispatch(message, ctx, Dispatch::default()).await,
            Err(answer) => Some(answer),
        }
    }

    /// Reads `body` as one message, within the limits; a message that
    /// cannot be read gets the error answer to send back instead.
    pub(crate) fn parse<'a>(&self, body: &'a [u8]) -> Result<Message<'a>, Vec<u8>> {
        if body.len() > self.limits.max_message_bytes {
            return Err(error_response(&ErrorObject::new(
                code::REQUEST_TOO_LARGE,
                format!(
                    "Message of {} bytes exceeds the limit of {} bytes",
                    body.len(),
                    self.limits.max_message_bytes
                ),
            )));
        }
        message::parse(body, &self.limits).map_err(|rejected| error_response(&rejected.error()))
    }

    /// Runs the calls of a parsed message and writes their answers. A
    /// member that is a response (no call of ours is waiting for it here)
    /// is answered -32600.
    pub(crate) async fn dispatch(
        &self,
        message: Message<'_>,
        ctx: &Context,
        how: Dispatch<'_>,
    ) -> Option<Vec<u8>> {
        let Dispatch { refusal, running } = how;
        match message {
            Message::Single(entry) => {
                let mut calls = [Self::start(entry)];
                self.run(&mut calls, ctx, refusal, running).await;
                let [call] = calls;
                let (id, outcome) = call.answer()?;
                let out = match outcome {
                    // A large result is answered in its own buffer.
                    Ok(result) if result.get().len() >= LARGE_RESULT => response_around(id, result),
                    outcome => {
                        let size = outcome.as_ref().map_or(96, |r| r.get().len() + 40);
                        let mut out = Vec::with_capacity(size);
                        write_response(&mut out, id, &outcome);
                        out
                    }
                };
                Some(self.within_limit(out, || [id]))
            }
            Message::Batch(entries) => {
                // The document once per batch: a batch of `rpc.discover`
                // calls must not turn a small request into a huge answer.
                let mut discovered = false;
                let mut calls: Vec<Call<'_>> = entries
                    .into_iter()
                    .map(|e| match &e {
                        Entry::Request(r)
                            if r.method == discover::METHOD
                                && refusal.is_none()
                                && self.methods.get(discover::METHOD).is_none() =>
                        {
                            if std::mem::replace(&mut discovered, true) {
                                Call {
                                    id: r.id,
                                    answer: true,
                                    method: r.method.clone(),
                                    state: State::Done(Err(ErrorObject::invalid_request(
                                        "rpc.discover is answered once per batch",
                                    ))),
                                    observed: None,
                                }
                            } else {
                                Self::start(e)
                            }
                        }
                        _ => Self::start(e),
                    })
                    .collect();
                self.run(&mut calls, ctx, refusal, running).await;
                let answers = calls.into_iter().filter_map(Call::answer);
                if self.limits.max_response_bytes.is_none() {
                    return write_batch(answers);
                }
                let answers: Vec<_> = answers.collect();
                let ids: Vec<_> = answers.iter().map(|(id, _)| *id).collect();
                let out = write_batch(answers)?;
                Some(self.within_limit(out, || ids))
            }
        }
    }

    /// An answer within [`Limits::max_response_bytes`]: one too long is
    /// replaced by an error for each of its calls (`ids`), or by one error
    /// when even those do not fit. Nothing is parsed again: the ids are at hand.
    fn within_limit<'a, I>(&self, answer: Vec<u8>, ids: impl FnOnce() -> I) -> Vec<u8>
    where
        I: IntoIterator<Item = Option<&'a RawValue>>,
    {
        let Some(max) = self
            .limits
            .max_response_bytes
            .filter(|max| answer.len() > *max)
        else {
            return answer;
        };
        let error = ErrorObject::new(
            code::REQUEST_TOO_LARGE,
            format!(
                "Response of {} bytes exceeds the limit of {max} bytes",
                answer.len()
            ),
        );
        let ids: Vec<_> = ids().into_iter().collect();
        let per_call = if answer.first() == Some(&b'[') {
            write_batch(ids.into_iter().map(|id| (id, Err(error.clone()))))
        } else {
            ids.first().map(|id| {
                let mut out = Vec::new();
                write_response(&mut out, *id, &Err(error.clone()));
                out
            })
        };
        match per_call {
            Some(out) if out.len() <= max => out,
            _ => error_response(&error),
        }
    }

    /// One member of a message, not started yet: an invalid member or a
    /// response among calls is answered at once.
    fn start<'a>(entry: Entry<'a>) -> Call<'a> {
        let invalid = |id, error| Call {
            id,
            answer: true,
            method: "".into(),
            state: State::Done(Err(error)),
            observed: None,
        };
        let (request, answer) = match entry {
            Entry::Invalid { id, error } => return invalid(id, error),
            // A response among calls, or one where we made no calls.
            Entry::Response { raw_id, .. } => {
                return invalid(raw_id, ErrorObject::invalid_request("missing `method`"))
            }
            Entry::Notification(request) => (request, false),
            Entry::Request(request) => (request, true),
        };
        Call {
            id: request.id,
            answer,
            method: request.method,
            state: State::Ready(request.params),
            observed: None,
        }
    }

    /// Looks the method up and starts its handler (which decodes the
    /// params), through the middleware when there is some; with a
    /// `refusal`, answers with it instead. `observing`: the call is
    /// observed, and started at that instant.
    fn begin<'a>(
        &'a self,
        call: &mut Call<'a>,
        params: Params<'a>,
        ctx: &Context,
        refusal: Option<&ErrorObject>,
        observing: Option<Instant>,
        tally: &mut Tally<'a>,
    ) {
        let registered = self.methods.get(&call.method);
        let meters = self.meters.as_deref();
        let observed = observing
            .map(|at| Observed::start(&call.method, registered, call.id, ctx, meters, at, tally));
        // An observed call's future runs inside its span (handler logs nest).
        let span = observed.as_ref().map(|o| &o.span);
        let running = |future: Flight| State::Running(AssertUnwindSafe(future).catch_unwind());
        let entered = observed.as_ref().map(|o| o.span.enter());
        let state = match (refusal, registered) {
            // A refused notification does not run (and is not answered).
            (Some(refusal), _) => State::Done(Err(refusal.clone())),
            // A subscription sent as a notification could never tell its id.
            (None, Some(method)) if !call.answer && method.info.subscription.is_some() => {
                State::Done(Err(ErrorObject::invalid_request(
                    "a subscription needs an id to answer with",
                )))
            }
            (None, _) if self.stack.is_some() => {
                match self.through_layers(call, params, registered, ctx, span) {
                    Some(future) => running(future),
                    None => State::Done(Err(ErrorObject::internal_error("no middleware"))),
                }
            }
            (None, _) => {
                let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    begin(&self.methods, &call.method, params, ctx, || {
                        self.discovery_document().to_owned()
                    })
                }));
                match started {
                    Ok(Begun::Running(future)) => running(Flight::Handler(match span {
                        Some(span) => Box::pin(future.instrument(span.clone())),
                        None => future,
                    })),
                    Ok(Begun::Done(outcome)) => State::Done(outcome),
                    Err(_) => State::Done(Err(panicked(&call.method))),
                }
            }
        };
        drop(entered);
        call.state = state;
        call.observed = observed;
    }

    /// Starts a call through the middleware: the call is copied out of the
    /// message (layers own what they see).
    fn through_layers(
        &self,
        call: &Call<'_>,
        params: Params<'_>,
        registered: Option<&crate::server::Method>,
        ctx: &Context,
        span: Option<&tracing::Span>,
    ) -> Option<Flight> {
        let stack = self.stack.as_ref()?;
        // A registered name is usually `'static`: no copy of it.
        let method = match registered.map(|m| &m.info().name) {
            Some(name) if *name == call.method => name.clone(),
            _ => std::borrow::Cow::Owned(call.method.clone().into_owned()),
        };
        let call = LayerCall::new(
            method,
            params.raw().map(ToOwned::to_owned),
            call.id.map(|raw| Id::from_raw(raw).unwrap_or(Id::Null)),
            ctx.clone(),
        );
        // The layers' own work happens when the future is polled, where a
        // panic is caught; inside the call's span when it has one.
        let future = stack.run(call);
        Some(match span {
            Some(span) => Flight::Handler(Box::pin(
                futures_util::TryFutureExt::map_err(future, error_object).instrument(span.clone()),
            )),
            None => Flight::Layers(future),
        })
    }

    /// Starts every call of a message and drives it to completion,
    /// concurrently, under one deadline for the whole message. Each call
    /// is started and polled once before the next starts: calls that
    /// finish then (the common case) cost no task and no timer, and an
    /// observed one costs one clock read (its end is the next one's start).
    async fn run<'a>(
        &'a self,
        calls: &mut [Call<'a>],
        ctx: &Context,
        refusal: Option<&ErrorObject>,
        running: Option<&Arc<Running>>,
    ) {
        let observing = refusal.is_none() && observe::wanted(self.meters.as_deref());
        let mut clock = observing.then(Instant::now);
        // Created only when a call is still running after its first poll.
        let mut waiting: Option<FuturesUnordered<Indexed>> = None;
        // Moving the reborrows in keeps the future `Send` (a closure that
        // borrows a `&mut` in place would need the calls to be `Sync`).
        let mut counted = Tally::default();
        let (first_pass, queue, clock, tally) =
            (&mut *calls, &mut waiting, &mut clock, &mut counted);
        std::future::poll_fn(move |cx| {
            for (index, call) in first_pass.iter_mut().enumerate() {
                if let State::Ready(params) = call.state {
                    self.begin(call, params, ctx, refusal, *clock, tally);
                }
                if let State::Running(future) = &mut call.state {
                    match future.poll_unpin(cx) {
                        Poll::Ready(outcome) => call.state = State::Done(settled(call, outcome)),
                        Poll::Pending => {
                            if let State::Running(future) =
                                std::mem::replace(&mut call.state, State::Waiting)
                            {
                                // A request still running may be cancelled by its id.
                                let cancel = running
                                    .filter(|_| call.answer)
                                    .zip(call.id.and_then(Id::from_raw))
                                    .and_then(|(running, id)| running.register(id));
                                queue
                                    .get_or_insert_with(FuturesUnordered::new)
                                    .push(Indexed {
                                        index,
                                        future,
                                        cancel,
                                    });
                            }
                        }
                    }
                }
                if clock.is_some() {
                    let now = Instant::now();
                    if let State::Done(outcome) = &call.state {
                        if let Some(observed) = call.observed.take() {
                            observed.finish(&call.method, call.id, outcome, now);
                        }
                    }
                    *clock = Some(now);
                }
            }
            Poll::Ready(())
        })
        .await;
        drop(counted);
        let Some(mut waiting) = waiting else { return };
        // In flight: the calls still running after their first poll, until
        // the message is answered (or dropped with its connection). A call
        // answered at once never waited: it moves no shared gauge.
        let _in_flight = self
            .meters
            .as_deref()
            .filter(|_| observing)
            .map(|meters| meters.in_flight(waiting.len()));
        let limit = self.limits.request_timeout;
        let deadline = async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = waiting.next() => match next {
                    Some((index, outcome)) => calls[index].finish(outcome),
                    None => return,
                },
                () = &mut deadline => {
                    let millis = limit.map_or(0, |l| l.as_millis());
                    for call in calls.iter_mut().filter(|c| matches!(c.state, State::Waiting)) {
                        call.state = State::Done(Err(ErrorObject::new(
                            code::REQUEST_TIMEOUT,
                            format!("Request timed out after {millis} ms"),
                        )));
                    }
                    return;
                }
            }
        }
    }
}

fn render_discovery(methods: &MethodTable) -> Box<RawValue> {
    let document = discover::document(methods);
    // A `Value` always serializes; fall back to `null` rather than panic.
    serde_json::value::to_raw_value(&document).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// From this size on, a single call's result is answered in its own
/// buffer (moved up once) rather than copied into a new one.
const LARGE_RESULT: usize = 64 << 10;

/// What the connection a message came on asks of its dispatch, beside
/// the message; the default (plain HTTP, in-process) asks nothing.
#[derive(Clone, Copy, Default)]
pub(crate) struct Dispatch<'a> {
    /// While the connection drains: every call is answered with this
    /// error instead of running (notifications are dropped).
    pub(crate) refusal: Option<&'a ErrorObject>,
    /// Where calls still running after their first poll are registered,
    /// so that the peer may cancel them by id (`$/cancelRequest`).
    pub(crate) running: Option<&'a Arc<Running>>,
}

/// One member of a message on its way through the dispatcher.
struct Call<'a> {
    id: Option<&'a RawValue>,
    /// Whether it gets an answer (not a notification).
    answer: bool,
    method: Cow<'a, str>,
    state: State<'a>,
    /// Its span, start time and metrics, when calls are observed.
    observed: Option<Observed<'a>>,
}

/// A call's future whose panic becomes an outcome.
type Guarded = CatchUnwind<AssertUnwindSafe<Flight>>;

/// A call on its way: its handler's future, or its way through the
/// middleware (not boxed again).
enum Flight {
    Handler(MethodFuture),
    Layers(CallFuture),
}

impl Future for Flight {
    type Output = MethodResult;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<MethodResult> {
        match self.get_mut() {
            Flight::Handler(future) => future.as_mut().poll(cx),
            Flight::Layers(future) => Pin::new(future).poll(cx).map_err(error_object),
        }
    }
}

enum State<'a> {
    /// Not started yet: its params.
    Ready(Params<'a>),
    Running(Guarded),
    /// Moved into the set of calls still running.
    Waiting,
    Done(MethodResult),
}

impl<'a> Call<'a> {
    /// Its outcome, come after its first poll.
    fn finish(&mut self, outcome: std::thread::Result<MethodResult>) {
        let outcome = settled(self, outcome);
        if let Some(observed) = self.observed.take() {
            observed.finish(&self.method, self.id, &outcome, Instant::now());
        }
        self.state = State::Done(outcome);
    }

    /// The id and outcome to answer with, or `None` for a notification.
    fn answer(self) -> Option<(Option<&'a RawValue>, MethodResult)> {
        let outcome = match self.state {
            State::Done(outcome) => outcome,
            State::Ready(_) | State::Running(_) | State::Waiting => {
                Err(ErrorObject::internal_error("the call did not finish"))
            }
        };
        // Timed out, or never finished.
        if let Some(observed) = self.observed {
            observed.finish(&self.method, self.id, &outcome, Instant::now());
        }
        if !self.answer {
            if let Err(e) = &outcome {
                // Peer-controlled text goes in as string values, which
                // log formatters escape (a `%` value is written raw: a
                // method name holding `\n` or ESC would forge lines).
                tracing::debug!(
                    method = &*self.method,
                    code = e.code,
                    error = &*e.message,
                    "notification failed"
                );
            }
            return None;
        }
        Some((self.id, outcome))
    }
}

/// A call still running, tagged with its place in the message.
struct Indexed {
    index: usize,
    future: Guarded,
    /// Set when the peer may cancel it (`$/cancelRequest`).
    cancel: Option<Registered>,
}

impl Future for Indexed {
    type Output = (usize, std::thread::Result<MethodResult>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        if let Some(cancel) = &mut self.cancel {
            // Cancelled: answered so, and the handler's future is dropped.
            if cancel.cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready((index, Ok(Err(cancel::cancelled()))));
            }
        }
        self.future.poll_unpin(cx).map(|outcome| (index, outcome))
    }
}

/// A call's outcome, a panic in its handler answered as -32603.
fn settled(call: &Call<'_>, outcome: std::thread::Result<MethodResult>) -> MethodResult {
    outcome.unwrap_or_else(|_| Err(panicked(&call.method)))
}

fn panicked(method: &str) -> ErrorObject {
    tracing::error!(method, "handler panicked");
    ErrorObject::internal_error(format_args!("method `{method}` panicked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Params;
    use crate::server::MethodInfo;

    fn long_answers(max: usize) -> Dispatcher {
        let mut table = MethodTable::new();
        table
            .register(MethodInfo::named("long"), |_: Params<'_>, _: &Context| {
                Ok(async { Ok::<_, ErrorObject>("x".repeat(300)) })
            })
            .unwrap();
        let limits = Limits {
            max_response_bytes: Some(max),
            ..Limits::default()
        };
        Dispatcher::new(table).with_limits(limits)
    }

    #[tokio::test]
    async fn answers_over_the_limit_become_errors_that_fit() {
        let d = long_answers(255);
        let ctx = Context::new();
        let single = d
            .handle(br#"{"jsonrpc":"2.0","method":"long","id":"q"}"#, &ctx)
            .await
            .unwrap();
        assert!(single.len() <= 255);
        let single: serde_json::Value = serde_json::from_slice(&single).unwrap();
        assert_eq!(single["id"], "q");
        assert_eq!(single["error"]["code"], code::REQUEST_TOO_LARGE);
        let batch = d
            .handle(
                br#"[{"jsonrpc":"2.0","method":"long","id":1},{"jsonrpc":"2.0","method":"long","id":2}]"#,
                &ctx,
            )
            .await
            .unwrap();
        assert!(batch.len() <= 255, "{}", String::from_utf8_lossy(&batch));
        let big: String = (0..6)
            .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"long","id":{i}}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let batch = d.handle(format!("[{big}]").as_bytes(), &ctx).await.unwrap();
        assert!(batch.len() <= 255, "{}", String::from_utf8_lossy(&batch));
    }
}
