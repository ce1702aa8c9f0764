//! A transport that calls a dispatcher in the same process: for tests, and
//! for using a service from the program that hosts it.

use crate::client::{Answer, BoxFuture, Error, Outgoing, Transport};
use crate::protocol::Context;
use crate::server::{Dispatcher, MethodTable};

/// Runs every message through a [`Dispatcher`] directly, bytes in and bytes
/// out, exactly as a network transport would, without the network.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rpc_core::{Client, InProcess, MethodInfo, MethodTable, Params, ParamsBuilder};
/// let mut table = MethodTable::new();
/// table.register(MethodInfo::named("hello"), |_: Params<'_>, _: &rpc_core::Context| {
///     Ok(async { Ok::<_, rpc_core::ErrorObject>("world") })
/// }).unwrap();
/// let client = Client::new(InProcess::new(table));
/// let answer: String = client.call("hello", ParamsBuilder::new(false)).await.unwrap();
/// assert_eq!(answer, "world");
/// # });
/// ```
#[derive(Clone)]
pub struct InProcess {
    dispatcher: Dispatcher,
    context: Context,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    /// Serves `methods` with default limits.
    pub fn new(methods: MethodTable) -> Self {
        InProcess::with_dispatcher(Dispatcher::new(methods))
    }

    /// Serves through an existing dispatcher.
    pub fn with_dispatcher(dispatcher: Dispatcher) -> Self {
        InProcess {
            dispatcher,
            context: Context::new().with(crate::protocol::TransportKind::InProcess),
        }
    }

    /// Sets the context every request sees (marked as in-process unless it
    /// names its transport).
    pub fn with_context(mut self, mut context: Context) -> Self {
        if context.get::<crate::protocol::TransportKind>().is_none() {
            context.insert(crate::protocol::TransportKind::InProcess);
        }
        self.context = context;
        self
    }
}

impl Transport for InProcess {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        Box::pin(async move {
            let answer = self.dispatcher.handle(&message.body, &self.context).await;
            match answer {
                Some(answer) => Ok(Some(Answer::from(answer))),
                None if message.ids.is_empty() => Ok(None),
                None => Err(crate::client::InvalidResponse::Empty.into()),
            }
        })
    }
}
