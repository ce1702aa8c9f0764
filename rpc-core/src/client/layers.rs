//! Tower layers on the client: around every request (a call or a batch)
//! and notification a [`Client`](super::Client) sends, over any transport.
//! A layer sees the [`Outgoing`] message (its body, ids, and a [`Context`]
//! the transport reads: the HTTP client sends a `HeaderMap` found there as
//! headers) and the [`Answer`]; an error from a layer reaches the caller as
//! itself when it is an [`Error`], else as [`Error::Transport`] (tower's
//! `Elapsed` for a timeout layer, say).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tower::{Service, ServiceExt};

use super::{Answer, BoxError, BoxFuture, Error, Outgoing, Transport};

/// What a client layer wraps: the transport, as a tower service. Its
/// response is `None` for a notification (`Outgoing::ids` empty).
#[derive(Clone)]
pub struct TransportService(Arc<dyn Transport>);

impl std::fmt::Debug for TransportService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportService")
    }
}

impl Service<Outgoing> for TransportService {
    type Response = Option<Answer>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Answer>, Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, message: Outgoing) -> Self::Future {
        let transport = self.0.clone();
        Box::pin(async move { transport.send(message).await })
    }
}

/// A transport with layers around it.
pub(super) struct Layered<S> {
    pub(super) service: S,
    /// The transport below, for its id counter.
    pub(super) below: Arc<dyn Transport>,
}

impl TransportService {
    pub(super) fn new(below: Arc<dyn Transport>) -> TransportService {
        TransportService(below)
    }
}

fn into_error(error: BoxError) -> Error {
    match error.downcast::<Error>() {
        Ok(error) => *error,
        Err(other) => Error::Transport(other),
    }
}

impl<S> Transport for Layered<S>
where
    S: Service<Outgoing, Response = Option<Answer>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        let service = self.service.clone();
        Box::pin(async move {
            service
                .oneshot(message)
                .await
                .map_err(|e| into_error(e.into()))
        })
    }

    fn subscriptions(&self) -> Option<&dyn super::Subscriptions> {
        // A plain transport below subscribes through the client, hence
        // through these layers; a reconnecting one over its own connections.
        self.below.subscriptions()
    }
}
