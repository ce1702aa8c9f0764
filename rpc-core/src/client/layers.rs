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
        Box::pin(async move {
            if message.ids.is_empty() {
                transport.notify_with(message).await.map(|()| None)
            } else {
                transport.request(message).await.map(Some)
            }
        })
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
    fn request(&self, message: Outgoing) -> BoxFuture<'_, Result<Answer, Error>> {
        let service = self.service.clone();
        Box::pin(async move {
            match service
                .oneshot(message)
                .await
                .map_err(|e| into_error(e.into()))?
            {
                Some(answer) => Ok(answer),
                None => Err(super::InvalidResponse::Empty.into()),
            }
        })
    }

    fn notify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
        self.notify_with(Outgoing::notification(body))
    }

    fn notify_with(&self, message: Outgoing) -> BoxFuture<'_, Result<(), Error>> {
        let service = self.service.clone();
        Box::pin(async move {
            service
                .oneshot(message)
                .await
                .map(|_| ())
                .map_err(|e| into_error(e.into()))
        })
    }

    fn id_counter(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
        self.below.id_counter()
    }

    fn subscribe<'a>(
        &'a self,
        client: &'a super::Client,
        call: super::SubscribeCall,
    ) -> BoxFuture<'a, Result<super::Opened, Error>> {
        // A plain transport below calls through `client`, hence through
        // these layers; a reconnecting one uses its own connections.
        self.below.subscribe(client, call)
    }

    fn unsubscribe<'a>(
        &'a self,
        client: &'a super::Client,
        key: &'a str,
        method: &'static str,
        server_id: Box<serde_json::value::RawValue>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        self.below.unsubscribe(client, key, method, server_id)
    }

    fn expect_subscription(&self, method: &str) -> Option<super::Expecting> {
        self.below.expect_subscription(method)
    }

    fn open_subscription(&self, method: &str, id: &str) -> Option<super::Inbox> {
        self.below.open_subscription(method, id)
    }

    fn close_subscription(&self, key: &str) {
        self.below.close_subscription(key)
    }
}
