//! Middleware: tower layers around every call (DESIGN section "Middleware").
//!
//! A [`Call`] is one request or notification as the method table sees it:
//! its method, params, id and [`Context`]. A middleware is any tower
//! [`Layer`](tower::Layer) over a [`CallService`] (a
//! `Service<Call, Response = Box<RawValue>, Error = BoxError>`), so tower's
//! own layers (timeout, concurrency limit, load shedding) work unchanged.
//! Layers run for every call: a single request, each member of a batch,
//! notifications, on every transport (HTTP, WebSocket, TCP, in-process).
//! A dispatcher without layers calls its handlers directly and pays
//! nothing for this.
//!
//! Errors: a layer fails a call with any error; an [`ErrorObject`] is
//! answered as it is, tower's `Elapsed` (timeout) as -32097, `Overloaded`
//! (load shed) as -32005, anything else as -32603 with its message.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use rpc_core::middleware::{Call, CallService};
//! use rpc_core::{Dispatcher, MethodInfo, MethodTable, Params};
//!
//! let mut table = MethodTable::new();
//! table.register(MethodInfo::named("ping"), |_: Params<'_>, _: &rpc_core::Context| {
//!     Ok(async { Ok::<_, rpc_core::ErrorObject>("pong") })
//! }).unwrap();
//! // A layer written as a function: count every call, then go on.
//! let count = Arc::new(AtomicUsize::new(0));
//! let counted = count.clone();
//! let counting = tower::layer::layer_fn(move |inner: CallService| {
//!     let counted = counted.clone();
//!     tower::service_fn(move |call: Call| {
//!         counted.fetch_add(1, Ordering::Relaxed);
//!         tower::ServiceExt::oneshot(inner.clone(), call)
//!     })
//! });
//! let dispatcher = Dispatcher::new(table).with_layer(counting);
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let batch = br#"[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","method":"ping","id":2}]"#;
//! dispatcher.handle(batch, &rpc_core::Context::new()).await;
//! assert_eq!(count.load(Ordering::Relaxed), 2);
//! # });
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use serde_json::value::RawValue;
use tower::Service;

use crate::protocol::{code, BoxError, Context, ErrorObject, Id, Params};
use crate::server::MethodTable;

/// One call (a request or a notification) on its way to its handler.
#[derive(Clone, Debug)]
pub struct Call {
    method: Cow<'static, str>,
    params: Option<Box<RawValue>>,
    id: Option<Id>,
    context: Context,
}

impl Call {
    /// A call of `method` with `params` (a JSON array or object, or none),
    /// `id` (`None` for a notification) and `context`.
    pub fn new(
        method: impl Into<Cow<'static, str>>,
        params: Option<Box<RawValue>>,
        id: Option<Id>,
        context: Context,
    ) -> Self {
        Call {
            method: method.into(),
            params,
            id,
            context,
        }
    }

    /// The method's wire name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params, as a handler reads them.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.as_deref())
    }

    /// The request id; `None` for a notification.
    pub fn id(&self) -> Option<&Id> {
        self.id.as_ref()
    }

    /// Whether the call is a notification (no answer is sent).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// What the transport knows about the caller (and what earlier layers added).
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The context, to add values for later layers and the handler.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }
}

/// A call's way through the middleware to its handler, type-erased: what
/// every layer wraps. Cloning it is cheap (shared); each call runs on its
/// own clone of the service below, which it waits to be ready for (so a
/// concurrency limit or rate limit below still holds calls back).
#[derive(Clone)]
pub struct CallService(Arc<dyn Shared>);

impl std::fmt::Debug for CallService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallService")
    }
}

impl CallService {
    /// Erases the type of `service`.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Call, Response = Box<RawValue>, Error = BoxError>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        CallService(Arc::new(Cloning(service)))
    }

    /// The bottom of the stack, without a box per call.
    pub(crate) fn handlers(handlers: Handlers) -> Self {
        CallService(Arc::new(handlers))
    }
}

/// What `with_layer` takes, on a [`Dispatcher`](crate::Dispatcher) and on
/// every server builder: a tower layer over [`CallService`] whose service
/// answers a [`Call`] with the raw result (or an error that converts into
/// [`BoxError`]). Implemented for every such layer: tower's own, a
/// [`from_fn`] layer, yours.
pub trait CallLayer: tower::Layer<CallService> {
    /// Wraps `inner` in this layer, with the service's type erased.
    fn wrap(&self, inner: CallService) -> CallService;
}

impl<L> CallLayer for L
where
    L: tower::Layer<CallService>,
    L::Service: Service<Call, Response = Box<RawValue>> + Clone + Send + Sync + 'static,
    <L::Service as Service<Call>>::Error: Into<BoxError>,
    <L::Service as Service<Call>>::Future: Send + 'static,
{
    fn wrap(&self, inner: CallService) -> CallService {
        use tower::ServiceExt;
        // A layer whose service is erased already (a `from_fn` layer's)
        // runs as it is: no clone per call, no readiness wait, no second box.
        let service = self.layer(inner);
        match (&service as &dyn std::any::Any).downcast_ref::<CallService>() {
            Some(erased) => erased.clone(),
            None => CallService::new(service.map_err(Into::into)),
        }
    }
}

impl CallService {
    /// Runs `call` without cloning this (shared) service.
    pub(crate) fn run(&self, call: Call) -> CallFuture {
        self.0.run(call)
    }
}

impl Service<Call> for CallService {
    type Response = Box<RawValue>;
    type Error = BoxError;
    type Future = CallFuture;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> CallFuture {
        self.0.run(call)
    }
}

/// How a [`CallService`] runs a call.
trait Shared: Send + Sync + 'static {
    fn run(&self, call: Call) -> CallFuture;
}

/// A service run on a clone per call, awaiting its readiness first.
struct Cloning<S>(S);

impl<S> Shared for Cloning<S>
where
    S: Service<Call, Response = Box<RawValue>, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    fn run(&self, call: Call) -> CallFuture {
        use tower::ServiceExt;
        CallFuture(Inner::Boxed(Box::pin(self.0.clone().oneshot(call))))
    }
}

impl Shared for Handlers {
    fn run(&self, call: Call) -> CallFuture {
        CallFuture(Inner::Handler(self.run_handler(call)))
    }
}

/// The future of a call through a [`CallService`].
pub struct CallFuture(Inner);

impl std::fmt::Debug for CallFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallFuture")
    }
}

enum Inner {
    Handler(HandlerFuture),
    Boxed(Pin<Box<dyn Future<Output = Result<Box<RawValue>, BoxError>> + Send>>),
}

/// A handler's future with its error boxed.
type HandlerFuture =
    futures_util::future::MapErr<crate::server::MethodFuture, fn(ErrorObject) -> BoxError>;

impl Future for CallFuture {
    type Output = Result<Box<RawValue>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Inner::Handler(future) => Pin::new(future).poll(cx),
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

/// The error object a call that failed in middleware is answered with.
pub fn error_object(error: BoxError) -> ErrorObject {
    let error = match error.downcast::<ErrorObject>() {
        Ok(object) => return *object,
        Err(other) => other,
    };
    if error.is::<tower::timeout::error::Elapsed>() {
        return ErrorObject::new(code::REQUEST_TIMEOUT, "Request timed out");
    }
    if error.is::<tower::load_shed::error::Overloaded>() {
        return ErrorObject::new(code::OVERLOADED, "Server overloaded, try again later");
    }
    ErrorObject::internal_error(error)
}

/// The bottom of every stack: checks the method's required role, then
/// runs its handler.
#[derive(Clone)]
pub(crate) struct Handlers {
    pub(crate) methods: Arc<MethodTable>,
    pub(crate) discovery: Arc<dyn Fn() -> Box<RawValue> + Send + Sync>,
}

impl Service<Call> for Handlers {
    type Response = Box<RawValue>;
    type Error = BoxError;
    type Future = HandlerFuture;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        self.run_handler(call)
    }
}

impl Handlers {
    /// Checks the method's role and starts its handler; nothing shared is
    /// cloned (calls on every thread come through here).
    fn run_handler(&self, call: Call) -> HandlerFuture {
        let future: crate::server::MethodFuture = match crate::server::call::begin(
            &self.methods,
            call.method(),
            call.params(),
            &call.context,
            || (self.discovery)(),
        ) {
            crate::server::call::Begun::Running(future) => future,
            crate::server::call::Begun::Done(outcome) => Box::pin(std::future::ready(outcome)),
        };
        futures_util::TryFutureExt::map_err(future, BoxError::from as fn(ErrorObject) -> BoxError)
    }
}

/// A middleware written as an async function of the call and the rest of
/// the stack, as axum's `from_fn`:
///
/// ```
/// use rpc_core::middleware::{from_fn, Call, Next};
/// // Refuse calls of methods starting with `internal.`, pass the others on.
/// let guard = from_fn(|call: Call, next: Next| async move {
///     if call.method().starts_with("internal.") {
///         return Err(rpc_core::ErrorObject::method_not_found(call.method()).into());
///     }
///     next.run(call).await
/// });
/// # let _ = rpc_core::Dispatcher::new(rpc_core::MethodTable::new()).with_layer(guard);
/// ```
pub fn from_fn<F, Fut>(f: F) -> FromFnLayer<F>
where
    F: Fn(Call, Next) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Box<RawValue>, BoxError>> + Send + 'static,
{
    FromFnLayer { f }
}

/// The rest of the stack below a [`from_fn`] middleware.
#[derive(Clone)]
pub struct Next {
    inner: CallService,
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Next")
    }
}

impl Next {
    /// Passes the call on: the next layer, or the handler.
    pub fn run(mut self, call: Call) -> CallFuture {
        self.inner.call(call)
    }
}

/// The layer [`from_fn`] makes. Its service is a [`CallService`] that
/// calls the function by reference: per call, one box for the function's
/// future and one handle on the rest of the stack for its [`Next`].
#[derive(Clone, Debug)]
pub struct FromFnLayer<F> {
    f: F,
}

impl<F, Fut> tower::Layer<CallService> for FromFnLayer<F>
where
    F: Fn(Call, Next) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Box<RawValue>, BoxError>> + Send + 'static,
{
    type Service = CallService;

    fn layer(&self, inner: CallService) -> CallService {
        CallService(Arc::new(FromFn {
            f: self.f.clone(),
            inner,
        }))
    }
}

/// The function of a [`FromFnLayer`] above the rest of the stack.
struct FromFn<F> {
    f: F,
    inner: CallService,
}

impl<F, Fut> Shared for FromFn<F>
where
    F: Fn(Call, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Box<RawValue>, BoxError>> + Send + 'static,
{
    fn run(&self, call: Call) -> CallFuture {
        let next = Next {
            inner: self.inner.clone(),
        };
        CallFuture(Inner::Boxed(Box::pin((self.f)(call, next))))
    }
}
