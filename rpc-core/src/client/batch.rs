//! Typed batches: several calls in one round trip, a tuple of results back.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::response::{decode_result, BatchAnswer};
use super::{Client, Error, InvalidResponse, Outgoing, ParamsBuilder};
use crate::protocol::encode;
use crate::protocol::Id;

/// A typed batch under construction: `S` records the result type of each
/// call so that [`send`](Batch::send) returns a tuple of typed results.
///
/// ```no_run
/// # async fn demo(client: rpc_core::Client) -> Result<(), rpc_core::Error> {
/// use rpc_core::ParamsBuilder;
/// let mut p = ParamsBuilder::new(false);
/// p.push("a", &1);
/// let (one, two) = client.batch().call::<i64>("inc", p).call::<String>("name", ParamsBuilder::new(false)).send().await?;
/// # Ok(()) }
/// ```
#[must_use = "a batch does nothing until sent"]
pub struct Batch<S> {
    client: Client,
    calls: Vec<(String, Id, Vec<u8>)>,
    error: Option<Error>,
    slots: S,
}

impl<S> std::fmt::Debug for Batch<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl Batch<()> {
    /// An empty batch on `client`.
    pub(super) fn new(client: Client) -> Self {
        Batch {
            client,
            calls: Vec::new(),
            error: None,
            slots: (),
        }
    }
}

impl<S> Batch<S> {
    /// The client the batch goes through.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The typed place of one call's result in a batch.
#[derive(Debug)]
pub struct Slot<T> {
    index: usize,
    _result: PhantomData<fn() -> T>,
}

/// Most calls a typed batch holds ([`Batch`]); [`BatchOf`] has no such cap.
pub const MAX_TYPED_BATCH: usize = 24;

/// Appends a slot to a tuple of slots (implemented for up to
/// [`MAX_TYPED_BATCH`] calls).
pub trait Push<T> {
    /// The tuple with one more slot.
    type Output;
    /// Appends `slot`.
    fn push(self, slot: Slot<T>) -> Self::Output;
}

/// Turns a tuple of slots into a tuple of results.
#[diagnostic::on_unimplemented(
    message = "a typed batch holds at most 24 calls",
    note = "send two batches, or use `client.batch_of::<T>()` for any number of calls returning one type"
)]
pub trait Slots {
    /// `(Result<A, Error>, Result<B, Error>, ...)`.
    type Output;
    /// Takes each slot's answer.
    fn take(self, answers: &mut [BatchAnswer], methods: &[String]) -> Self::Output;
}

impl<T> Push<T> for () {
    type Output = (Slot<T>,);
    fn push(self, slot: Slot<T>) -> Self::Output {
        (slot,)
    }
}

impl Slots for () {
    type Output = ();
    fn take(self, _: &mut [BatchAnswer], _: &[String]) {}
}

fn take_slot<T: DeserializeOwned>(
    slot: Slot<T>,
    answers: &mut [BatchAnswer],
    methods: &[String],
) -> Result<T, Error> {
    let method = methods.get(slot.index).map_or("", String::as_str);
    match answers.get_mut(slot.index).and_then(Option::take) {
        Some(Ok(raw)) => decode_result(method, &raw),
        Some(Err(e)) => Err(e),
        None => Err(InvalidResponse::MissingBatchMember(method.to_owned()).into()),
    }
}

/// A tuple of slots grows by one, and gives a tuple of results. The
/// largest still takes one more call, so that a batch one call too long
/// fails at `send` with `Slots`' message rather than with a missing method.
macro_rules! tuples {
    ($($name:ident)+) => {
        impl<T, $($name),+> Push<T> for ($(Slot<$name>,)+) {
            type Output = ($(Slot<$name>,)+ Slot<T>,);
            #[allow(non_snake_case)]
            fn push(self, slot: Slot<T>) -> Self::Output {
                let ($($name,)+) = self;
                ($($name,)+ slot,)
            }
        }

        impl<$($name: DeserializeOwned),+> Slots for ($(Slot<$name>,)+) {
            type Output = ($(Result<$name, Error>,)+);
            #[allow(non_snake_case)]
            fn take(self, answers: &mut [BatchAnswer], methods: &[String]) -> Self::Output {
                let ($($name,)+) = self;
                ($(take_slot($name, answers, methods),)+)
            }
        }
    };
}

tuples!(A);
tuples!(A B);
tuples!(A B C);
tuples!(A B C D);
tuples!(A B C D E);
tuples!(A B C D E F);
tuples!(A B C D E F G);
tuples!(A B C D E F G H);
tuples!(A B C D E F G H I);
tuples!(A B C D E F G H I J);
tuples!(A B C D E F G H I J K);
tuples!(A B C D E F G H I J K L);
tuples!(A B C D E F G H I J K L M);
tuples!(A B C D E F G H I J K L M N);
tuples!(A B C D E F G H I J K L M N O);
tuples!(A B C D E F G H I J K L M N O P);
tuples!(A B C D E F G H I J K L M N O P Q);
tuples!(A B C D E F G H I J K L M N O P Q R);
tuples!(A B C D E F G H I J K L M N O P Q R S);
tuples!(A B C D E F G H I J K L M N O P Q R S U);
tuples!(A B C D E F G H I J K L M N O P Q R S U V);
tuples!(A B C D E F G H I J K L M N O P Q R S U V W);
tuples!(A B C D E F G H I J K L M N O P Q R S U V W X);
tuples!(A B C D E F G H I J K L M N O P Q R S U V W X Y);

impl<S> Batch<S> {
    /// Adds a call whose result decodes as `T`.
    pub fn call<T>(mut self, method: &str, params: ParamsBuilder) -> Batch<S::Output>
    where
        S: Push<T>,
    {
        let index = self.calls.len();
        let id = self.client.id();
        match params.into_bytes() {
            Ok(params) => self.calls.push((
                method.to_owned(),
                Id::from(id),
                encode::request(method, params.as_deref(), Some(id)),
            )),
            Err(e) => {
                self.error.get_or_insert(e);
                self.calls
                    .push((method.to_owned(), Id::from(id), Vec::new()));
            }
        }
        Batch {
            client: self.client,
            calls: self.calls,
            error: self.error,
            slots: self.slots.push(Slot {
                index,
                _result: PhantomData,
            }),
        }
    }

    /// Sends every call in one message and returns their results in order.
    ///
    /// The outer `Err` is a failure of the whole round trip (transport,
    /// invalid answer, or the server refusing the whole batch); each inner
    /// result is that call's own outcome.
    pub async fn send(self) -> Result<S::Output, Error>
    where
        S: Slots,
    {
        if let Some(e) = self.error {
            return Err(e);
        }
        let (mut answers, methods) = round_trip(&self.client, &self.calls).await?;
        Ok(self.slots.take(&mut answers, &methods))
    }
}

/// Sends `calls` as one batch message; their answers, in call order, and
/// their methods.
async fn round_trip(
    client: &Client,
    calls: &[(String, Id, Vec<u8>)],
) -> Result<(Vec<BatchAnswer>, Vec<String>), Error> {
    let methods: Vec<String> = calls.iter().map(|(m, _, _)| m.clone()).collect();
    if calls.is_empty() {
        return Ok((Vec::new(), methods));
    }
    let ids: Vec<Id> = calls.iter().map(|(_, id, _)| id.clone()).collect();
    let mut body = Vec::new();
    for (_, _, call) in calls {
        body.push(if body.is_empty() { b'[' } else { b',' });
        body.extend_from_slice(call);
    }
    body.push(b']');
    let answer = client.send(Outgoing::request(body, ids.clone())).await?;
    Ok((answer.batch(&ids)?, methods))
}

/// A batch of any number of calls whose results share one type, built in
/// a loop; from [`Client::batch_of`].
///
/// ```no_run
/// # async fn demo(client: rpc_core::Client) -> Result<(), rpc_core::Error> {
/// use rpc_core::ParamsBuilder;
/// let mut batch = client.batch_of::<i64>();
/// for n in 0..100 {
///     let mut p = ParamsBuilder::new(true);
///     p.push("a", &n);
///     p.push("b", &1);
///     batch.push("add", p);
/// }
/// // One result per call, in order: each its own `Ok` or `Err`.
/// let sums: Vec<Result<i64, rpc_core::Error>> = batch.send().await?;
/// # Ok(()) }
/// ```
#[must_use = "a batch does nothing until sent"]
pub struct BatchOf<T> {
    client: Client,
    calls: Vec<(String, Id, Vec<u8>)>,
    error: Option<Error>,
    _results: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for BatchOf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchOf")
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> BatchOf<T> {
    pub(super) fn new(client: Client) -> Self {
        BatchOf {
            client,
            calls: Vec::new(),
            error: None,
            _results: PhantomData,
        }
    }

    /// Adds a call; its result will decode as `T`.
    pub fn push(&mut self, method: &str, params: ParamsBuilder) -> &mut Self {
        let id = self.client.id();
        let call = match params.into_bytes() {
            Ok(params) => encode::request(method, params.as_deref(), Some(id)),
            Err(e) => {
                self.error.get_or_insert(e);
                Vec::new()
            }
        };
        self.calls.push((method.to_owned(), Id::from(id), call));
        self
    }

    /// How many calls it holds.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether it holds no call.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Sends every call in one message; one result per call, in order. The
    /// outer `Err` is a failure of the whole round trip.
    pub async fn send(self) -> Result<Vec<Result<T, Error>>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let (mut answers, methods) = round_trip(&self.client, &self.calls).await?;
        Ok((0..self.calls.len())
            .map(|index| {
                take_slot(
                    Slot::<T> {
                        index,
                        _result: PhantomData,
                    },
                    &mut answers,
                    &methods,
                )
            })
            .collect())
    }
}
