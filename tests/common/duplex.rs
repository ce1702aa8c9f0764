//! Scenarios every duplex transport (WebSocket, TCP in each framing) must pass.

use std::future::Future;
use std::time::{Duration, Instant};

use rpc::duplex::DuplexConnection;
use rpc::MethodTable;

use super::{next_event, peer, DemoClient, Peer};

/// Opens a client connection that serves `methods` to the server.
pub trait Connect {
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

pub async fn calls_both_ways(connect: impl Connect) {
    let (service, _events) = peer();
    let conn = connect.connect(service.into_rpc()).await;
    let client = DemoClient::new(conn.clone());
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

pub async fn pushes_notifications_in_order_before_the_answer(connect: impl Connect) {
    let (service, mut events) = peer();
    let client = DemoClient::new(connect.connect(service.into_rpc()).await);
    assert_eq!(client.notify_me(20).await.unwrap(), 20);
    for i in 0..20 {
        assert_eq!(next_event(&mut events).await, format!("tick {i}"));
    }
}

pub async fn broadcast_reaches_every_client(connect: impl Connect) {
    let mut receivers = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (service, events) = peer();
        clients.push(DemoClient::new(connect.connect(service.into_rpc()).await));
        receivers.push(events);
    }
    let reached = clients[0].shout("hi all".into()).await.unwrap();
    assert!(reached >= 3, "reached {reached}");
    for events in &mut receivers {
        assert_eq!(next_event(events).await, "message hi all");
    }
}

pub async fn thousand_concurrent_calls_all_matched(connect: impl Connect) {
    let client = DemoClient::new(connect.connect(MethodTable::new()).await);
    let calls = (0..1000i64).map(|i| {
        let client = client.clone();
        async move { (i, client.add(i, 1_000_000).await) }
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, result) in results {
        assert_eq!(result.unwrap(), i + 1_000_000);
    }
}

pub async fn answers_arrive_as_calls_complete(connect: impl Connect) {
    let client = DemoClient::new(connect.connect(MethodTable::new()).await);
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

pub async fn pending_calls_fail_when_the_connection_closes(connect: impl Connect) {
    let conn = connect.connect(MethodTable::new()).await;
    let client = DemoClient::new(conn.clone());
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

pub async fn panics_and_timeouts_stay_on_their_call(connect: impl Connect) {
    let client = DemoClient::new(connect.connect(MethodTable::new()).await);
    let err = client.boom().await.unwrap_err();
    assert_eq!(err.error_object().unwrap().code, rpc::code::INTERNAL_ERROR);
    let slow = client.clone().with_timeout(Duration::from_millis(50));
    assert!(matches!(
        slow.sleep(1000).await,
        Err(rpc::Error::Timeout(_))
    ));
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
}
