//! Scenarios every duplex transport (WebSocket, TCP in each framing) must pass.

use std::future::Future;
use std::time::{Duration, Instant};

use rpc::duplex::DuplexConnection;
use rpc::MethodTable;

use super::{next_event, peer, DemoBatch, DemoClient, Peer};

/// Opens a client connection that serves `methods` to the server.
pub(crate) trait Connect {
    fn connect(&self, methods: MethodTable) -> impl Future<Output = DuplexConnection>;
}

impl<F, Fut> Connect for F
where
    F: Fn(MethodTable) -> Fut,
    Fut: Future<Output = DuplexConnection>,
{
    fn connect(&self, methods: MethodTable) -> impl Future<Output = DuplexConnection> {
        self(methods)
    }
}

pub(crate) async fn calls_both_ways(connect: impl Connect) {
    let (service, _events) = peer();
    let conn = connect.connect(service.into_rpc()).await;
    let client = rpc::Client::new(conn.clone());
    assert_eq!(client.add(2, 3).await.unwrap(), 5);
    assert_eq!(
        client.clone().with_named_params().add(4, 4).await.unwrap(),
        8
    );
    // The server calls the client's `double` while answering.
    assert_eq!(client.call_back(21).await.unwrap(), 42);
    let (a, b) = client.batch().add(1, 1).sleep(5).send().await.unwrap();
    assert_eq!((a.unwrap(), b.unwrap()), (2, 5));
    client.bump().await.unwrap();
}

pub(crate) async fn pushes_notifications_in_order_before_the_answer(connect: impl Connect) {
    let (service, mut events) = peer();
    let client = rpc::Client::new(connect.connect(service.into_rpc()).await);
    assert_eq!(client.notify_me(20).await.unwrap(), 20);
    for i in 0..20 {
        assert_eq!(next_event(&mut events).await, format!("tick {i}"));
    }
}

/// A notification is a subscription item only when its method and id were
/// subscribed: one whose params merely hold `subscription` and `result`
/// reaches the client's handler, whichever id it names.
pub(crate) async fn notifications_shaped_like_items_reach_the_handler(connect: impl Connect) {
    let (service, mut events) = peer();
    let client = rpc::Client::new(connect.connect(service.into_rpc()).await);
    for id in ["x", "1", "2"] {
        client.notify_status(id.into()).await.unwrap();
        assert_eq!(next_event(&mut events).await, format!("status {id} 1"));
    }
}

pub(crate) async fn broadcast_reaches_every_client(connect: impl Connect) {
    let mut receivers = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (service, events) = peer();
        clients.push(rpc::Client::new(connect.connect(service.into_rpc()).await));
        receivers.push(events);
    }
    let reached = clients[0].shout("hi all".into()).await.unwrap();
    assert!(reached >= 3, "reached {reached}");
    for events in &mut receivers {
        assert_eq!(next_event(events).await, "message hi all");
    }
}

pub(crate) async fn thousand_concurrent_calls_all_matched(connect: impl Connect) {
    let client = rpc::Client::new(connect.connect(MethodTable::new()).await);
    let calls = (0..1000i64).map(|i| {
        let client = client.clone();
        async move { (i, client.add(i, 1_000_000).await) }
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, result) in results {
        assert_eq!(result.unwrap(), i + 1_000_000);
    }
}

pub(crate) async fn answers_arrive_as_calls_complete(connect: impl Connect) {
    let client = rpc::Client::new(connect.connect(MethodTable::new()).await);
    let started = Instant::now();
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(500).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(client.sleep(10).await.unwrap(), 10);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the quick call waited behind the slow one"
    );
    assert_eq!(slow.await.unwrap().unwrap(), 500);
}

pub(crate) async fn pending_calls_fail_when_the_connection_closes(connect: impl Connect) {
    let conn = connect.connect(MethodTable::new()).await;
    let client = rpc::Client::new(conn.clone());
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(5_000).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.close();
    let outcome = tokio::time::timeout(Duration::from_secs(1), pending)
        .await
        .expect("pending call hung")
        .unwrap();
    assert!(matches!(outcome, Err(rpc::Error::Closed)), "{outcome:?}");
    assert!(matches!(client.add(1, 2).await, Err(rpc::Error::Closed)));
}

pub(crate) async fn panics_and_timeouts_stay_on_their_call(connect: impl Connect) {
    let client = rpc::Client::new(connect.connect(MethodTable::new()).await);
    let err = client.boom().await.unwrap_err();
    assert_eq!(err.error_object().unwrap().code, rpc::code::INTERNAL_ERROR);
    let slow = client.clone().with_timeout(Duration::from_millis(50));
    assert!(matches!(
        slow.sleep(1000).await,
        Err(rpc::Error::Timeout(_))
    ));
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
}

/// A method returning `()` or `None` answers `"result": null`: still an answer.
pub(crate) async fn null_results_are_answers(connect: impl Connect) {
    let client = rpc::Client::new(connect.connect(MethodTable::new()).await);
    let within = Duration::from_secs(2);
    tokio::time::timeout(within, client.nothing())
        .await
        .expect("`()` result hung")
        .unwrap();
    let none = tokio::time::timeout(within, client.maybe(None))
        .await
        .expect("`None` hung");
    assert_eq!(none.unwrap(), None);
    assert_eq!(client.maybe(Some(4)).await.unwrap(), Some(4));
    assert_eq!(
        client.echo(serde_json::Value::Null).await.unwrap(),
        serde_json::Value::Null
    );
    let (a, b, c) = tokio::time::timeout(
        Duration::from_secs(2),
        client.batch().nothing().maybe(None).add(1, 2).send(),
    )
    .await
    .expect("a batch with null results hung")
    .unwrap();
    a.unwrap();
    assert_eq!(b.unwrap(), None);
    assert_eq!(c.unwrap(), 3);
}

/// A peer that never reads cannot hold up broadcasts to the others: it is
/// dropped once its queue is full, and the others get every message.
pub(crate) async fn a_peer_that_never_reads_does_not_block_broadcasts(
    connect: impl Connect,
    stalled: impl Future<Output = Box<dyn std::any::Any + Send>>,
    text_len: usize,
    rounds: usize,
) {
    let (service, mut events) = peer();
    let listener = rpc::Client::new(connect.connect(service.into_rpc()).await);
    let _stalled = stalled.await;
    let text = "x".repeat(text_len);
    let started = Instant::now();
    for round in 0..rounds {
        let reached = tokio::time::timeout(Duration::from_secs(2), listener.shout(text.clone()))
            .await
            .unwrap_or_else(|_| panic!("broadcast {round} waited on the stalled peer"))
            .unwrap();
        assert!(reached >= 1, "round {round}: reached {reached}");
        assert_eq!(
            next_event(&mut events).await,
            format!("message {text}"),
            "round {round}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// How a fake peer answers a request (given its id as JSON text).
pub(crate) type Answer = fn(&str) -> String;

/// Calls `add` through our client over `connect`, and returns what the
/// call ended with (never a hang: it fails the test after two seconds).
pub(crate) async fn call_once(connect: impl Connect) -> Result<i64, rpc::Error> {
    let client = rpc::Client::new(connect.connect(MethodTable::new()).await);
    tokio::time::timeout(Duration::from_secs(2), client.add(1, 2))
        .await
        .expect("the call waited for an answer it had been given")
}

/// The peer answers `"error": null` beside the result, as json-rpc2 does.
pub(crate) fn error_null_beside_result(id: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","result":3,"error":null,"id":{id}}}"#)
}

/// The peer answers `"result": null` beside a real error.
pub(crate) fn result_null_beside_error(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","result":null,"error":{{"code":-32000,"message":"no"}},"id":{id}}}"#
    )
}

/// The peer could not read the request: an error with `"id": null`.
pub(crate) fn null_id_error(_id: &str) -> String {
    r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#.to_owned()
}

/// The peer answers with an id we never sent.
pub(crate) fn wrong_id(_id: &str) -> String {
    r#"{"jsonrpc":"2.0","result":3,"id":987654}"#.to_owned()
}

/// Checks what each kind of odd answer does to a call.
pub(crate) async fn odd_answers_end_the_call_clearly<C: Connect>(peer_with: impl Fn(Answer) -> C) {
    let ok = call_once(peer_with(error_null_beside_result)).await;
    assert_eq!(ok.unwrap(), 3, "`error: null` beside a result");
    let err = call_once(peer_with(result_null_beside_error))
        .await
        .unwrap_err();
    assert_eq!(err.error_object().map(|e| e.code), Some(-32000), "{err}");
    let err = call_once(peer_with(null_id_error)).await.unwrap_err();
    assert_eq!(err.error_object().map(|e| e.code), Some(-32700), "{err}");
    let err = call_once(peer_with(wrong_id)).await.unwrap_err();
    assert!(matches!(err, rpc::Error::IdMismatch { .. }), "{err}");
}

/// The id of a request, as JSON text.
pub(crate) fn request_id(message: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(message).expect("a JSON request");
    value["id"].to_string()
}

/// A notification whose handler never finishes holds up the notifications
/// after it for a bounded time only, and the calls not at all.
pub(crate) async fn a_stuck_notification_does_not_stall_the_connection(connect: impl Connect) {
    let client = rpc::Client::new(connect.connect(MethodTable::new()).await);
    let before = client.bumps().await.unwrap();
    client.stall().await.unwrap();
    for _ in 0..3 {
        client.bump().await.unwrap();
    }
    let started = Instant::now();
    assert_eq!(client.add(2, 2).await.unwrap(), 4);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a call waited"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while client.bumps().await.unwrap() < before + 3 {
        assert!(Instant::now() < deadline, "later notifications stalled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
