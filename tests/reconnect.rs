//! Clients that survive: a reconnecting client against the calculator
//! killed and restarted (its subscription goes on with a gap, later calls
//! succeed, idempotent calls in flight are sent again, others fail
//! clearly), failover to a second instance, and retries of idempotent
//! calls over HTTP across a restart. Every duplex transport: WebSocket
//! and TCP in each framing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::calculator::Served;
use futures_util::StreamExt;
use rpc::reconnect::{ConnectionState, Endpoint, Reconnect, Reconnecting};
use rpc::tcp::{Framing, StreamOptions};
use rpc::{rpc, MethodTable, Subscription};
use serde_json::{json, Value};

/// The calculator's methods these tests call, as a client sees them.
#[rpc]
trait Calc {
    #[rpc(idempotent)]
    async fn add(&self, a: i64, b: i64) -> i64;
    #[rpc(idempotent)]
    async fn sleep(&self, ms: u64) -> u64;
    async fn publish(&self, topic: String, message: Value) -> u64;
    async fn notify_me(&self, count: u64) -> u64;
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn subscribe_ticks(&self, interval_ms: u64, count: Option<u64>) -> Subscription<u64>;
}

/// The duplex transports: WebSocket, and TCP in every framing.
const TRANSPORTS: [&str; 5] = [
    "ws",
    "newline",
    "length-prefix-1",
    "length-prefix-2",
    "length-prefix-4",
];

async fn start(framing: &str) -> Served {
    let framing = framing.to_owned();
    tokio::task::spawn_blocking(move || Served::start(&framing))
        .await
        .unwrap()
}

async fn restart(served: &Served, framing: &str) -> Served {
    let (http, tcp, framing) = (served.http_addr(), served.tcp.clone(), framing.to_owned());
    tokio::task::spawn_blocking(move || Served::start_at(&http, &tcp, &framing))
        .await
        .unwrap()
}

/// The calculator's framing flag for a transport (WebSocket: any).
fn framing_flag(transport: &str) -> &str {
    if transport == "ws" {
        "newline"
    } else {
        transport
    }
}

/// An endpoint on `served` over `transport`, serving `methods` to it.
fn endpoint(served: &Served, transport: &str, methods: MethodTable) -> Endpoint {
    if transport == "ws" {
        rpc::ws::endpoint(&served.ws(), methods)
    } else {
        let framing: Framing = transport.parse().unwrap();
        rpc::tcp::endpoint(&served.tcp, StreamOptions::framing(framing), methods)
    }
}

fn quick(reconnect: Reconnect) -> Reconnect {
    reconnect.with_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// A reconnecting client of `served` over `transport` (quick back-off),
/// connected, serving `methods` to it; and the typed client over it.
async fn connected(
    served: &Served,
    transport: &str,
    methods: MethodTable,
) -> (Reconnecting, rpc::Client) {
    let connection = quick(Reconnect::new(endpoint(served, transport, methods)))
        .connect()
        .await
        .unwrap();
    let client = rpc::Client::new(connection.clone());
    (connection, client)
}

/// Waits (at most 10 s) for a state that `want` accepts.
async fn reach(connection: &Reconnecting, want: impl Fn(&ConnectionState) -> bool) {
    let mut states = connection.watch_state();
    tokio::time::timeout(Duration::from_secs(10), states.wait_for(|s| want(s)))
        .await
        .unwrap_or_else(|_| panic!("state still {}", connection.state()))
        .unwrap();
}

/// The next item of a subscription, within 10 s.
async fn next<T>(items: &mut rpc::client::SubscriptionStream<T>) -> Result<T, rpc::Error>
where
    T: serde::de::DeserializeOwned,
{
    tokio::time::timeout(Duration::from_secs(10), items.next())
        .await
        .expect("an item within 10 s")
        .expect("the stream goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_calculator_keeps_the_subscription_and_later_calls_going() {
    for transport in TRANSPORTS {
        let mut served = start(framing_flag(transport)).await;
        let (connection, client) = connected(&served, transport, MethodTable::new()).await;
        let mut ticks = client.subscribe_ticks(20, None).await.unwrap();
        for i in 0..3 {
            assert_eq!(next(&mut ticks).await.unwrap(), i, "{transport}");
        }
        assert_eq!(client.add(2, 3).await.unwrap(), 5);

        served.kill();
        reach(&connection, |s| !s.is_connected()).await;
        // Calls made while it is down wait for the next connection (a
        // call that was never sent is no risk to send, idempotent or not).
        let waiting = {
            let client = client.clone();
            tokio::spawn(async move { client.publish("news".into(), json!("hi")).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "{transport}: a call waits while disconnected"
        );

        let _restarted = restart(&served, framing_flag(transport)).await;
        reach(&connection, ConnectionState::is_connected).await;
        assert_eq!(waiting.await.unwrap().unwrap(), 0, "{transport}");

        // The stream goes on: a gap counted (ticks cannot resume), then
        // the new subscription's items.
        assert_eq!(ticks.gaps(), 0, "{transport}");
        for i in 0..3 {
            assert_eq!(next(&mut ticks).await.unwrap(), i, "{transport}");
        }
        assert_eq!(ticks.gaps(), 1, "{transport}");
        assert_eq!(client.add(20, 22).await.unwrap(), 42, "{transport}");
        assert_eq!(connection.reconnects(), 1, "{transport}");
        // Unsubscribing reaches the new subscription.
        assert!(ticks.unsubscribe().await.unwrap(), "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_when_the_connection_drops_are_resent_if_idempotent_else_fail_clearly() {
    for transport in TRANSPORTS {
        let mut served = start(framing_flag(transport)).await;
        let (connection, client) = connected(&served, transport, MethodTable::new()).await;
        let idempotent = {
            let client = client.clone();
            tokio::spawn(async move { client.sleep(1500).await })
        };
        let once = {
            let client = rpc::Client::new(connection.clone());
            tokio::spawn(async move {
                let mut params = rpc::client::ParamsBuilder::new(false);
                params.push("ms", &1500);
                client.call::<u64>("sleep", params).await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        served.kill();
        let lost = once.await.unwrap().unwrap_err();
        assert!(
            matches!(lost, rpc::Error::ConnectionLost),
            "{transport}: {lost}"
        );
        let _restarted = restart(&served, framing_flag(transport)).await;
        assert_eq!(idempotent.await.unwrap().unwrap(), 1500, "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_fails_over_to_a_second_instance_when_the_first_dies() {
    for transport in ["ws", "newline"] {
        let mut first = start(framing_flag(transport)).await;
        let second = start(framing_flag(transport)).await;
        let (first_name, second_name) = (
            endpoint(&first, transport, MethodTable::new()),
            endpoint(&second, transport, MethodTable::new()),
        );
        let (first_name, second_name) =
            (first_name.name().to_owned(), second_name.name().to_owned());
        let connection = quick(
            Reconnect::new(endpoint(&first, transport, MethodTable::new()))
                .with_endpoint(endpoint(&second, transport, MethodTable::new())),
        )
        .connect()
        .await
        .unwrap();
        assert_eq!(
            connection.state(),
            ConnectionState::Connected {
                endpoint: first_name
            }
        );
        let client = rpc::Client::new(connection.clone());
        let mut ticks = client.subscribe_ticks(20, None).await.unwrap();
        assert_eq!(next(&mut ticks).await.unwrap(), 0);

        first.kill();
        reach(&connection, |s| {
            *s == ConnectionState::Connected {
                endpoint: second_name.clone(),
            }
        })
        .await;
        assert_eq!(next(&mut ticks).await.unwrap(), 0, "{transport}");
        assert_eq!(ticks.gaps(), 1, "{transport}");
        assert_eq!(client.add(1, 1).await.unwrap(), 2, "{transport}");
    }
}

/// What the client serves to the calculator: its `tick` notifications.
#[rpc]
trait Ticks {
    #[rpc(notification)]
    async fn tick(&self, i: u64);
}

struct TickCounter(Arc<AtomicUsize>);

impl Ticks for TickCounter {
    async fn tick(&self, _i: u64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_the_client_serves_are_served_again_after_a_reconnection() {
    for transport in ["ws", "length-prefix-4"] {
        let ticks = Arc::new(AtomicUsize::new(0));
        let methods = TickCounter(ticks.clone()).into_rpc();
        let mut served = start(framing_flag(transport)).await;
        let (_connection, client) = connected(&served, transport, methods).await;
        assert_eq!(client.notify_me(2).await.unwrap(), 2);
        served.kill();
        let _restarted = restart(&served, framing_flag(transport)).await;
        assert_eq!(client.notify_me(3).await.unwrap(), 3, "{transport}");
        // Notifications are handled in the order they came, before the answer.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 5, "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_told_to_fail_while_disconnected_fails_at_once_and_reports_its_state() {
    let mut served = start("newline").await;
    let connection = Reconnect::new(endpoint(&served, "newline", MethodTable::new()))
        .with_backoff(Duration::from_millis(200), Duration::from_millis(400))
        .failing_while_disconnected()
        .connect()
        .await
        .unwrap();
    let client = rpc::Client::new(connection.clone());
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    served.kill();
    // Attempts go on, counted, with the last error.
    reach(&connection, |s| {
        matches!(s, ConnectionState::Reconnecting { attempt, last_error: Some(_), .. } if *attempt >= 2)
    })
    .await;
    let started = std::time::Instant::now();
    let error = client.add(1, 2).await.unwrap_err();
    assert!(matches!(error, rpc::Error::Disconnected(_)), "{error}");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(error.to_string().contains("reconnecting"), "{error}");

    let _restarted = restart(&served, "newline").await;
    reach(&connection, ConnectionState::is_connected).await;
    assert_eq!(client.add(1, 2).await.unwrap(), 3);

    connection.close();
    assert!(connection.state().is_closed());
    let error = client.add(1, 2).await.unwrap_err();
    assert!(matches!(error, rpc::Error::Disconnected(_)), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nothing_fails_after_trying_every_endpoint_once() {
    let refused = |port: u16| {
        rpc::tcp::endpoint(
            format!("127.0.0.1:{port}"),
            StreamOptions::default(),
            MethodTable::new(),
        )
    };
    // Ports nobody listens on: bound, then released.
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let error = Reconnect::new(refused(free()))
        .with_endpoint(refused(free()))
        .connect()
        .await
        .unwrap_err();
    // The last attempt's own error, as a plain connect would give.
    assert!(matches!(error, rpc::Error::Connect(_)), "{error}");
    assert!(error.to_string().contains("refused"), "{error}");
}

/// Counts the messages that reach the transport (each attempt of a call).
fn counting(
    sent: Arc<AtomicUsize>,
) -> impl tower::Layer<
    rpc::client::TransportService,
    Service = impl tower::Service<
        rpc::client::Outgoing,
        Response = Option<rpc::client::Answer>,
        Error = rpc::Error,
        Future = impl Send,
    > + Clone
                  + Send
                  + Sync,
> + Clone {
    tower::layer::layer_fn(move |inner: rpc::client::TransportService| {
        let sent = sent.clone();
        tower::service_fn(move |message: rpc::client::Outgoing| {
            sent.fetch_add(1, Ordering::SeqCst);
            tower::ServiceExt::oneshot(inner.clone(), message)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_idempotent_call_is_retried_across_a_restart_and_another_is_not() {
    let mut served = start("newline").await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let http = rpc::http::HttpClient::new(&served.http).unwrap();
    let client = rpc::Client::new(http)
        .with_layer(counting(attempts.clone()))
        .with_layer(
            rpc::client::RetryLayer::new()
                .with_backoff(Duration::from_millis(100), Duration::from_millis(300))
                .with_max_retries(30),
        );
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    assert_eq!(attempts.swap(0, Ordering::SeqCst), 1);

    served.kill();
    // Not idempotent: one attempt, a clear connection error (or, when the
    // pool hands out its kept connection before noticing the server died,
    // the transport's "connection closed": the request may have gone).
    let error = client.publish("news".into(), json!(1)).await.unwrap_err();
    assert!(
        matches!(error, rpc::Error::Connect(_) | rpc::Error::Transport(_)),
        "{error}"
    );
    assert_eq!(attempts.swap(0, Ordering::SeqCst), 1);

    // Idempotent: retried until the calculator is back.
    let retried = {
        let client = client.clone();
        tokio::spawn(async move { client.add(20, 22).await })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _restarted = restart(&served, "newline").await;
    assert_eq!(retried.await.unwrap().unwrap(), 42);
    assert!(attempts.load(Ordering::SeqCst) >= 2);
}

/// An endpoint in this process: each connection is a pipe to a fresh
/// server end (sent to `server_ends`) serving nothing.
fn in_process(
    connects: Arc<AtomicUsize>,
    server_ends: tokio::sync::mpsc::UnboundedSender<rpc::duplex::DuplexConnection>,
) -> Endpoint {
    Endpoint::new("in-process", move || {
        connects.fetch_add(1, Ordering::SeqCst);
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let options = StreamOptions::default();
        let end = |io| {
            rpc::tcp::connect_stream(
                io,
                &options,
                rpc::server::Dispatcher::new(MethodTable::new()),
                rpc::Context::new(),
                None,
            )
        };
        let _ = server_ends.send(end(server_io));
        let client = end(client_io);
        async move { Ok(client) }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drops_every_connection_at_once_is_not_hammered() {
    let connects = Arc::new(AtomicUsize::new(0));
    let (ends, mut server_ends) =
        tokio::sync::mpsc::unbounded_channel::<rpc::duplex::DuplexConnection>();
    // The server closes each connection as soon as it is made.
    tokio::spawn(async move {
        while let Some(end) = server_ends.recv().await {
            end.close();
        }
    });
    let connection = Reconnect::new(in_process(connects.clone(), ends))
        .with_backoff(Duration::from_millis(100), Duration::from_secs(5))
        .with_jitter(0.0)
        .spawn();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // Back-off between short-lived connections: 0, 100, 200, 400, 800 ms.
    let made = connects.load(Ordering::SeqCst);
    assert!((3..=6).contains(&made), "{made} connections in 1.6 s");
    drop(connection);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_or_closing_stops_it_and_closes_the_connection() {
    for close in [false, true] {
        let connects = Arc::new(AtomicUsize::new(0));
        let (ends, mut server_ends) =
            tokio::sync::mpsc::unbounded_channel::<rpc::duplex::DuplexConnection>();
        let connection = Reconnect::new(in_process(connects.clone(), ends))
            .connect()
            .await
            .unwrap();
        let client = rpc::Client::new(connection.clone());
        let server_end = server_ends.recv().await.unwrap();
        if close {
            connection.close();
            let error = client
                .call::<u64>("x", rpc::client::ParamsBuilder::new(false))
                .await
                .unwrap_err();
            assert!(matches!(error, rpc::Error::Disconnected(_)), "{error}");
        } else {
            drop(client);
            drop(connection);
        }
        tokio::time::timeout(Duration::from_secs(2), server_end.closed())
            .await
            .expect("the connection closes");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(connects.load(Ordering::SeqCst), 1, "no reconnection");
    }
}

/// What `tracing` events were written, as text.
#[derive(Clone, Default)]
struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn connection_changes_are_tracing_events() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_env_filter("rpc::reconnect=info")
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let connects = Arc::new(AtomicUsize::new(0));
    let (ends, mut server_ends) = tokio::sync::mpsc::unbounded_channel();
    let connection = quick(Reconnect::new(in_process(connects, ends)))
        .connect()
        .await
        .unwrap();
    server_ends.recv().await.unwrap().close();
    let _second = server_ends.recv().await.unwrap();
    reach(&connection, ConnectionState::is_connected).await;
    connection.close();

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let find = |what: &str| {
        lines
            .iter()
            .position(|l| l.contains("rpc::reconnect") && l.contains(what))
            .unwrap_or_else(|| panic!("no event {what:?} in:\n{text}"))
    };
    let (connected, lost, closed) = (
        find("connected endpoint=in-process generation=1"),
        find("connection lost; reconnecting"),
        find("reconnecting client closed"),
    );
    let reconnected = find("generation=2");
    assert!(
        connected < lost && lost < reconnected && reconnected < closed,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_subscription_that_is_not_read_ends_as_lagged() {
    let served = start("newline").await;
    let connection = Reconnect::new(endpoint(&served, "ws", MethodTable::new()))
        .connect()
        .await
        .unwrap();
    let client = rpc::Client::new(connection.clone());
    let mut ticks = client.subscribe_ticks(1, None).await.unwrap();
    // Past what the stream, the inbox (4096 items) and the connection
    // (the server's 1 MiB queue) hold, at a tick a ms.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut items = 0;
    let end = loop {
        match next(&mut ticks).await {
            Ok(_) => items += 1,
            Err(end) => break end,
        }
    };
    assert_eq!(
        end.error_object().map(|e| e.code),
        Some(-32004),
        "after {items} items: {end}"
    );
    assert!(ticks.next().await.is_none());
    // The connection is fine: calls go on.
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_malformed_url_ends_it_at_once_with_that_error() {
    let connection = Reconnect::new(rpc::ws::endpoint("http//nowhere", MethodTable::new())).spawn();
    let mut states = connection.watch_state();
    let closed = tokio::time::timeout(Duration::from_secs(5), states.wait_for(|s| s.is_closed()))
        .await
        .expect("closed at once")
        .unwrap()
        .to_string();
    assert!(closed.contains("invalid URL"), "{closed}");
    let error = rpc::Client::new(connection).add(1, 2).await.unwrap_err();
    assert!(error.to_string().contains("invalid URL"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_dropped_while_disconnected_leaves_the_others_alone() {
    let mut served = start("newline").await;
    let (connection, client) = connected(&served, "ws", MethodTable::new()).await;
    let first = client.subscribe_ticks(20, None).await.unwrap();
    let mut second = client.subscribe_ticks(20, None).await.unwrap();
    assert_eq!(next(&mut second).await.unwrap(), 0);

    served.kill();
    reach(&connection, |s| !s.is_connected()).await;
    // The restarted server hands out the same ids again: the dropped
    // stream's old id must not end the one made again under it.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _restarted = restart(&served, "newline").await;
    reach(&connection, ConnectionState::is_connected).await;
    let mut seen = Vec::new();
    while seen.len() < 10 {
        seen.push(next(&mut second).await.unwrap());
    }
    assert_eq!(second.gaps(), 1);
    // Items before the gap (from the old connection) then the new ones.
    let after_gap: Vec<u64> = seen.iter().copied().skip_while(|&t| t != 0).collect();
    assert!(!after_gap.is_empty(), "no item after the gap: {seen:?}");
    let expected: Vec<u64> = (0..after_gap.len() as u64).collect();
    assert_eq!(after_gap, expected);
}
