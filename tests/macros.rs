//! What `#[rpc]` generates, end to end: every kind of method called through
//! the generated client over `rpc::InProcess`, in both parameter styles, and
//! the bytes the client puts on the wire.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::client::{BoxFuture, Outgoing, ParamsBuilder};
use rpc::{rpc, Context, ErrorObject, InProcess, MethodTable};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A value with structure, to show that params and results go through serde.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Point {
    x: i64,
    y: i64,
}

/// The kitchen's application errors, converted to and from error objects
/// by `#[derive(RpcError)]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error, rpc::RpcError)]
pub enum KitchenError {
    /// Not enough of `item` left: the fields travel in `data`.
    #[error("out of {item}")]
    #[rpc(code = OUT_OF_STOCK, data)]
    OutOfStock { item: String, left: u32 },
    /// The kitchen does not take orders.
    #[error("closed")]
    #[rpc(code = CLOSED)]
    Closed,
    /// A tuple variant with data.
    #[error("too hot: {0} degrees in {1}")]
    #[rpc(code = -32012, data)]
    TooHot(u32, String),
    /// A variant whose fields stay behind: it comes back as an `ErrorObject`.
    #[error("broken: {0}")]
    #[rpc(code = -32013)]
    Broken(String),
}

const OUT_OF_STOCK: i64 = -32010;
const CLOSED: i64 = -32011;

/// Who is calling; a transport would put it in the request context.
#[derive(Debug, Clone, PartialEq)]
struct Caller(String);

/// Every kind of method the macro supports.
#[rpc]
pub trait Kitchen {
    /// Adds two integers.
    ///
    /// Used by every test.
    async fn add(&self, a: i64, b: i64) -> i64;

    /// Forgets every order; returns nothing.
    async fn reset(&self);

    /// Orders `count` of `item`; fails when there is not enough.
    async fn order(&self, item: String, count: u32) -> Result<u32, KitchenError>;

    /// Greets, with an optional title.
    async fn greet(&self, name: String, title: Option<String>) -> String;

    /// The point halfway between
    /// - `a` and
    ///   `b`.
    async fn midpoint(&self, a: Point, b: Point) -> Point;

    /// Rings the bell; the caller gets no answer.
    #[rpc(notification)]
    async fn ring(&self, times: usize);

    /// Subtracts `b` from `a`, on the wire as `sub`, `minus` and `subtract`.
    #[rpc(name = "sub", aliases = ["minus", "subtract"])]
    async fn subtract(&self, a: i64, b: i64) -> i64;

    /// Always called with named params.
    #[rpc(named_params)]
    async fn describe(&self, dish: String, portions: u32) -> String;

    /// The context parameter sits between two wire params.
    async fn whoami(&self, prefix: String, ctx: Context, suffix: Option<String>) -> String;

    /// A parameter may be called `params`; a raw identifier's wire name has no `r#`.
    async fn label(&self, params: Vec<String>, r#type: String) -> String;

    /// A default body, written once in the trait.
    async fn double(&self, x: i64) -> i64 {
        x * 2
    }

    /// A default body that calls another method of the trait.
    async fn add_twice(&self, a: i64, b: i64) -> i64 {
        let once = self.add(a, b).await;
        self.add(once, once).await
    }
}

#[derive(Default)]
struct Diner {
    bells: Arc<AtomicUsize>,
    rung: Option<tokio::sync::mpsc::UnboundedSender<usize>>,
    orders: Mutex<Vec<(String, u32)>>,
}

const STOCK: u32 = 3;

impl Kitchen for Diner {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn reset(&self) {
        self.orders.lock().unwrap().clear();
    }

    async fn order(&self, item: String, count: u32) -> Result<u32, KitchenError> {
        if item == "closed" {
            return Err(KitchenError::Closed);
        }
        if count > STOCK {
            return Err(KitchenError::OutOfStock { item, left: STOCK });
        }
        let mut orders = self.orders.lock().unwrap();
        orders.push((item, count));
        Ok(orders.len() as u32)
    }

    async fn greet(&self, name: String, title: Option<String>) -> String {
        match title {
            Some(t) => format!("Hello, {t} {name}!"),
            None => format!("Hello, {name}!"),
        }
    }

    async fn midpoint(&self, a: Point, b: Point) -> Point {
        Point {
            x: (a.x + b.x) / 2,
            y: (a.y + b.y) / 2,
        }
    }

    async fn ring(&self, times: usize) {
        self.bells.fetch_add(times, Ordering::SeqCst);
        if let Some(rung) = &self.rung {
            let _ = rung.send(times);
        }
    }

    async fn subtract(&self, a: i64, b: i64) -> i64 {
        a - b
    }

    async fn describe(&self, dish: String, portions: u32) -> String {
        format!("{portions} x {dish}")
    }

    async fn whoami(&self, prefix: String, ctx: Context, suffix: Option<String>) -> String {
        let caller = ctx.get::<Caller>().map_or("nobody", |c| c.0.as_str());
        format!("{prefix}{caller}{}", suffix.unwrap_or_default())
    }

    async fn label(&self, params: Vec<String>, r#type: String) -> String {
        format!("{}:{}", r#type, params.join(","))
    }
}

fn client() -> rpc::Client {
    rpc::Client::new(InProcess::new(Diner::default().into_rpc()))
}

/// Both parameter styles; every call below must behave the same in each.
fn clients() -> [(&'static str, rpc::Client); 2] {
    [
        ("positional", client()),
        ("named", client().with_named_params()),
    ]
}

#[tokio::test]
async fn plain_values_round_trip_in_both_param_styles() {
    for (style, client) in clients() {
        assert_eq!(client.add(2, 3).await.unwrap(), 5, "{style}");
        assert_eq!(client.add(-7, 2).await.unwrap(), -5, "{style}");
        let mid = client
            .midpoint(Point { x: 0, y: 10 }, Point { x: 4, y: 20 })
            .await
            .unwrap();
        assert_eq!(mid, Point { x: 2, y: 15 }, "{style}");
    }
}

#[tokio::test]
async fn unit_return_comes_back_as_ok_unit() {
    for (style, client) in clients() {
        assert_eq!(client.order("tea".into(), 1).await.unwrap(), 1, "{style}");
        client.reset().await.unwrap();
        // The table was emptied: the next order is the first again.
        assert_eq!(client.order("tea".into(), 1).await.unwrap(), 1, "{style}");
    }
}

#[tokio::test]
async fn application_error_decodes_back_into_its_own_type() {
    for (style, client) in clients() {
        assert_eq!(client.order("soup".into(), 2).await.unwrap(), 1, "{style}");

        let err = client.order("soup".into(), 9).await.unwrap_err();
        let object = err.error_object().expect("a JSON-RPC error").clone();
        assert_eq!(object.code, OUT_OF_STOCK, "{style}");
        assert_eq!(object.message, "out of soup", "{style}");
        assert_eq!(
            err.application::<KitchenError>().unwrap(),
            KitchenError::OutOfStock {
                item: "soup".into(),
                left: STOCK
            },
            "{style}"
        );

        let err = client.order("closed".into(), 1).await.unwrap_err();
        assert_eq!(
            err.application::<KitchenError>().unwrap(),
            KitchenError::Closed,
            "{style}"
        );
    }
}

#[tokio::test]
async fn error_the_application_type_does_not_know_stays_an_rpc_error() {
    // Calling a method that does not exist yields -32601, which
    // `KitchenError::try_from` refuses: the original error comes back.
    let client = client();
    let err = client
        .call::<i64>("nope", ParamsBuilder::new(false))
        .await
        .unwrap_err();
    assert_eq!(err.application::<KitchenError>(), None);
    // Decoding borrows: the error is still there to log or return.
    assert_eq!(
        err.error_object().unwrap().code,
        rpc::code::METHOD_NOT_FOUND
    );
}

#[tokio::test]
async fn trailing_option_may_be_left_out_or_given() {
    for (style, client) in clients() {
        assert_eq!(
            client.greet("Ann".into(), None).await.unwrap(),
            "Hello, Ann!",
            "{style}"
        );
        assert_eq!(
            client.greet("Ann".into(), Some("Dr".into())).await.unwrap(),
            "Hello, Dr Ann!",
            "{style}"
        );
    }
}

#[tokio::test]
async fn notification_runs_on_the_server_without_an_answer() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bells = Arc::new(AtomicUsize::new(0));
    let diner = Diner {
        bells: Arc::clone(&bells),
        rung: Some(tx),
        ..Diner::default()
    };
    let client = rpc::Client::new(InProcess::new(diner.into_rpc()));

    client.ring(2).await.unwrap();
    client.clone().with_named_params().ring(3).await.unwrap();

    let wait = Duration::from_secs(5);
    assert_eq!(
        tokio::time::timeout(wait, rx.recv()).await.unwrap(),
        Some(2)
    );
    assert_eq!(
        tokio::time::timeout(wait, rx.recv()).await.unwrap(),
        Some(3)
    );
    assert_eq!(bells.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn name_override_and_aliases_reach_the_same_method() {
    for (style, client) in clients() {
        // The generated client uses the `name =` wire name.
        assert_eq!(client.subtract(10, 4).await.unwrap(), 6, "{style}");
    }
    let client = client();
    for name in ["sub", "minus", "subtract"] {
        let mut params = ParamsBuilder::new(false);
        params.push("a", &10);
        params.push("b", &4);
        let answer: i64 = client.call(name, params).await.unwrap();
        assert_eq!(answer, 6, "{name}");
    }
}

#[tokio::test]
async fn named_params_method_and_renamed_params_work_in_both_styles() {
    for (style, client) in clients() {
        assert_eq!(
            client.describe("soup".into(), 2).await.unwrap(),
            "2 x soup",
            "{style}"
        );
        assert_eq!(
            client
                .label(vec!["a".into(), "b".into()], "tag".into())
                .await
                .unwrap(),
            "tag:a,b",
            "{style}"
        );
    }
}

#[tokio::test]
async fn method_table_lists_wire_names_aliases_docs_and_params() {
    let table = Diner::default().into_rpc();
    let names: Vec<&str> = table.methods().map(|m| m.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "add",
            "reset",
            "order",
            "greet",
            "midpoint",
            "ring",
            "sub",
            "describe",
            "whoami",
            "label",
            "double",
            "add_twice"
        ]
    );
    let info = |name: &str| table.methods().find(|m| m.name == name).unwrap().clone();

    // Doc comments, line by line, become the description.
    assert_eq!(
        info("add").description.as_deref(),
        Some("Adds two integers.\n\nUsed by every test.")
    );
    // Indentation inside the comment is kept.
    assert_eq!(
        info("midpoint").description.as_deref(),
        Some("The point halfway between\n- `a` and\n  `b`.")
    );
    let sub = info("sub");
    assert_eq!(sub.aliases, ["minus", "subtract"]);
    assert_eq!(
        sub.description.as_deref(),
        Some("Subtracts `b` from `a`, on the wire as `sub`, `minus` and `subtract`.")
    );
    assert!(info("ring").notification);
    assert!(!info("add").notification);
    assert_eq!(info("reset").result, None);
    assert_eq!(info("order").result.as_deref(), Some("u32"));

    // The context is not a wire parameter; an optional one is not required.
    let whoami: Vec<(String, String, bool)> = info("whoami")
        .params
        .iter()
        .map(|p| (p.name.to_string(), p.ty.to_string(), p.required))
        .collect();
    assert_eq!(
        whoami,
        [
            ("prefix".into(), "String".into(), true),
            ("suffix".into(), "Option<String>".into(), false)
        ]
    );
    let label: Vec<String> = info("label")
        .params
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(label, ["params", "type"]);
    // Aliases count as wire names of their own.
    assert!(table.get("minus").is_some());
    assert!(table.get("subtract").is_some());
}

#[tokio::test]
async fn typed_batch_returns_each_outcome_in_order() {
    for (style, client) in clients() {
        let (sum, order, greeting) = client
            .batch()
            .add(1, 2)
            .order("pie".into(), 99)
            .greet("Bo".into(), Some("Dr".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(sum.unwrap(), 3, "{style}");
        assert_eq!(
            order.unwrap_err().application::<KitchenError>().unwrap(),
            KitchenError::OutOfStock {
                item: "pie".into(),
                left: STOCK
            },
            "{style}"
        );
        assert_eq!(greeting.unwrap(), "Hello, Dr Bo!", "{style}");
    }
}

#[tokio::test]
async fn context_parameter_reads_what_the_transport_provides() {
    let transport = InProcess::new(Diner::default().into_rpc())
        .with_context(Context::new().with(Caller("ann".into())));
    for client in [
        rpc::Client::new(transport.clone()),
        rpc::Client::new(transport).with_named_params(),
    ] {
        assert_eq!(
            client.whoami("I am ".into(), None).await.unwrap(),
            "I am ann"
        );
        assert_eq!(
            client.whoami("<".into(), Some(">".into())).await.unwrap(),
            "<ann>"
        );
    }
    // Without one, the handler sees an empty context.
    assert_eq!(client().whoami("".into(), None).await.unwrap(), "nobody");
}

#[tokio::test]
async fn trait_works_as_a_normal_trait_without_rpc() {
    let diner = Diner::default();
    assert_eq!(diner.add(2, 2).await, 4);
    assert_eq!(diner.order("tea".into(), 1).await, Ok(1));
    assert_eq!(
        diner.order("closed".into(), 1).await,
        Err(KitchenError::Closed)
    );
    assert_eq!(
        diner
            .whoami("hi ".into(), Context::new().with(Caller("bo".into())), None)
            .await,
        "hi bo"
    );
    diner.ring(1).await;
    assert_eq!(diner.bells.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn default_method_bodies_run_directly_and_over_rpc() {
    let diner = Diner::default();
    assert_eq!(diner.double(21).await, 42);
    assert_eq!(diner.add_twice(1, 2).await, 6);
    for (style, client) in clients() {
        assert_eq!(client.double(21).await.unwrap(), 42, "{style}");
        assert_eq!(client.add_twice(1, 2).await.unwrap(), 6, "{style}");
    }
}

/// A second service, under a namespace, naming the runtime with `::rpc`.
#[rpc(namespace = "pantry", crate = "::rpc")]
pub trait Pantry {
    /// How many of `item` are left.
    async fn count(&self, item: String) -> u32;

    #[rpc(aliases = ["restock"])]
    async fn refill(&self, item: String, amount: u32) -> u32;
}

struct Shelf;

impl Pantry for Shelf {
    async fn count(&self, item: String) -> u32 {
        item.len() as u32
    }

    async fn refill(&self, _item: String, amount: u32) -> u32 {
        amount + 1
    }
}

/// A third service, naming the runtime with `rpc`, whose `add` would clash
/// with `Kitchen`'s in one scope.
mod abacus {
    use rpc::rpc;

    #[rpc(crate = "rpc")]
    pub(crate) trait Calculator {
        async fn add(&self, a: i64, b: i64) -> i64;
    }

    pub(crate) struct Abacus;

    impl Calculator for Abacus {
        async fn add(&self, a: i64, b: i64) -> i64 {
            a.wrapping_add(b)
        }
    }
}
use abacus::{Abacus, Calculator as _};

#[tokio::test]
async fn namespace_prefixes_every_wire_name() {
    let table = Shelf.into_rpc();
    let names: Vec<&str> = table.methods().map(|m| m.name.as_ref()).collect();
    assert_eq!(names, ["pantry.count", "pantry.refill"]);
    let refill = table.methods().nth(1).unwrap();
    assert_eq!(refill.aliases, ["pantry.restock"]);
    assert!(table.get("count").is_none());

    let client = rpc::Client::new(InProcess::new(table));
    assert_eq!(client.count("salt".into()).await.unwrap(), 4);
    let mut params = ParamsBuilder::new(true);
    params.push("item", "salt");
    params.push("amount", &2);
    let answer: u32 = client.call("pantry.restock", params).await.unwrap();
    assert_eq!(answer, 3);
}

#[tokio::test]
async fn crate_option_works_with_and_without_leading_colons() {
    let calculator = rpc::Client::new(InProcess::new(Abacus.into_rpc()));
    // `KitchenClient`, in scope here, has an `add` too: say which.
    assert_eq!(
        abacus::CalculatorClient::add(&calculator, i64::MAX, 1)
            .await
            .unwrap(),
        i64::MIN
    );
    let pantry = rpc::Client::new(InProcess::new(Shelf.into_rpc()));
    assert_eq!(pantry.refill("oil".into(), 1).await.unwrap(), 2);
}

#[tokio::test]
async fn merged_services_serve_both_and_duplicates_are_refused() {
    let table: MethodTable = Diner::default().into_rpc().merge(Shelf.into_rpc()).unwrap();
    let transport = InProcess::new(table);
    let kitchen = rpc::Client::new(transport.clone());
    let pantry = rpc::Client::new(transport);
    assert_eq!(kitchen.add(1, 1).await.unwrap(), 2);
    assert_eq!(pantry.count("flour".into()).await.unwrap(), 5);

    let err = Diner::default()
        .into_rpc()
        .merge(Abacus.into_rpc())
        .unwrap_err();
    assert!(
        matches!(&err, rpc::server::RegisterError::Duplicate(name) if name == "add"),
        "{err:?}"
    );
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_are_send_and_calls_run_on_other_threads() {
    // The trait's futures and the client's futures are `Send` by signature...
    let diner = Diner::default();
    assert_eq!(assert_send(diner.add(1, 2)).await, 3);
    let client = client();
    assert_eq!(assert_send(client.add(1, 2)).await.unwrap(), 3);

    // ...so calls can be spawned, many at once, onto the runtime's workers.
    let calls: Vec<_> = (0..32i64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let (a, b) = client.batch().add(i, i).double(i).send().await.unwrap();
                (client.add(i, 1).await.unwrap(), a.unwrap(), b.unwrap())
            })
        })
        .collect();
    for (i, call) in (0..32i64).zip(calls) {
        assert_eq!(call.await.unwrap(), (i + 1, 2 * i, 2 * i));
    }
}

/// Records the bytes the client sends, then lets `InProcess` answer them.
#[derive(Clone)]
struct Recording {
    inner: InProcess,
    sent: Arc<Mutex<Vec<Value>>>,
}

impl Recording {
    fn new() -> Self {
        Recording {
            inner: InProcess::new(Diner::default().into_rpc()),
            sent: Arc::default(),
        }
    }

    fn record(&self, body: &[u8]) {
        let value = serde_json::from_slice(body).expect("the client sends JSON");
        self.sent.lock().unwrap().push(value);
    }

    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

impl rpc::client::Transport for Recording {
    fn send(
        &self,
        message: Outgoing,
    ) -> BoxFuture<'_, Result<Option<rpc::client::Answer>, rpc::Error>> {
        self.record(&message.body);
        self.inner.send(message)
    }
}

/// The request without its id, which the client chooses.
fn without_id(mut request: Value) -> Value {
    assert!(request["id"].is_u64(), "{request}");
    request.as_object_mut().unwrap().remove("id");
    request
}

#[tokio::test]
async fn client_sends_positional_params_by_default_and_named_on_request() {
    let wire = Recording::new();
    let positional = rpc::Client::new(wire.clone());
    let named = rpc::Client::new(wire.clone()).with_named_params();

    positional.add(1, 2).await.unwrap();
    named.add(1, 2).await.unwrap();
    positional.greet("Ann".into(), None).await.unwrap();
    named.greet("Ann".into(), None).await.unwrap();
    positional
        .greet("Ann".into(), Some("Dr".into()))
        .await
        .unwrap();
    // `#[rpc(named_params)]` is named even on a positional client.
    positional.describe("soup".into(), 2).await.unwrap();
    positional.subtract(5, 1).await.unwrap();
    named.label(vec![], "x".into()).await.unwrap();
    // No params at all: nothing to send.
    positional.reset().await.unwrap();
    named.reset().await.unwrap();

    let sent: Vec<Value> = wire.take().into_iter().map(without_id).collect();
    assert_eq!(
        sent,
        [
            json!({"jsonrpc": "2.0", "method": "add", "params": [1, 2]}),
            json!({"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 2}}),
            json!({"jsonrpc": "2.0", "method": "greet", "params": ["Ann"]}),
            json!({"jsonrpc": "2.0", "method": "greet", "params": {"name": "Ann"}}),
            json!({"jsonrpc": "2.0", "method": "greet", "params": ["Ann", "Dr"]}),
            json!({"jsonrpc": "2.0", "method": "describe", "params": {"dish": "soup", "portions": 2}}),
            json!({"jsonrpc": "2.0", "method": "sub", "params": [5, 1]}),
            json!({"jsonrpc": "2.0", "method": "label", "params": {"params": [], "type": "x"}}),
            json!({"jsonrpc": "2.0", "method": "reset"}),
            json!({"jsonrpc": "2.0", "method": "reset"}),
        ]
    );
}

#[tokio::test]
async fn notification_and_batch_have_the_documented_wire_shape() {
    let wire = Recording::new();
    let client = rpc::Client::new(wire.clone());
    client.ring(2).await.unwrap();
    let (a, b) = client.batch().add(1, 2).double(4).send().await.unwrap();
    assert_eq!((a.unwrap(), b.unwrap()), (3, 8));

    let sent = wire.take();
    // A notification has no id at all (not even null).
    assert_eq!(
        sent[0],
        json!({"jsonrpc": "2.0", "method": "ring", "params": [2]})
    );
    let batch = sent[1].as_array().expect("a batch is an array");
    let ids: Vec<&Value> = batch.iter().map(|r| &r["id"]).collect();
    assert_ne!(ids[0], ids[1], "batch members need distinct ids");
    let batch: Vec<Value> = batch.iter().cloned().map(without_id).collect();
    assert_eq!(
        batch,
        [
            json!({"jsonrpc": "2.0", "method": "add", "params": [1, 2]}),
            json!({"jsonrpc": "2.0", "method": "double", "params": [4]}),
        ]
    );
}

async fn handle(dispatcher: &rpc::server::Dispatcher, request: Value) -> Value {
    let body = serde_json::to_vec(&request).unwrap();
    let answer = dispatcher
        .handle(&body, &Context::new())
        .await
        .expect("a request gets an answer");
    serde_json::from_slice(&answer).unwrap()
}

#[tokio::test]
async fn server_answers_raw_positional_and_named_requests() {
    let dispatcher = rpc::server::Dispatcher::new(Diner::default().into_rpc());

    let positional = json!({"jsonrpc": "2.0", "method": "add", "params": [40, 2], "id": 1});
    assert_eq!(
        handle(&dispatcher, positional).await,
        json!({"jsonrpc": "2.0", "result": 42, "id": 1})
    );

    let named = json!({"jsonrpc": "2.0", "method": "greet", "params": {"title": "Dr", "name": "Ann"}, "id": "x"});
    assert_eq!(
        handle(&dispatcher, named).await,
        json!({"jsonrpc": "2.0", "result": "Hello, Dr Ann!", "id": "x"})
    );

    let unit = json!({"jsonrpc": "2.0", "method": "reset", "id": 2});
    assert_eq!(
        handle(&dispatcher, unit).await,
        json!({"jsonrpc": "2.0", "result": null, "id": 2})
    );

    let failing = json!({"jsonrpc": "2.0", "method": "order", "params": ["pie", 9], "id": 3});
    assert_eq!(
        handle(&dispatcher, failing).await,
        json!({"jsonrpc": "2.0", "error": {
            "code": OUT_OF_STOCK,
            "message": "out of pie",
            "data": {"item": "pie", "left": STOCK}
        }, "id": 3})
    );

    // A wrong type is -32602, naming the parameter.
    let wrong = json!({"jsonrpc": "2.0", "method": "add", "params": [1, "two"], "id": 4});
    let answer = handle(&dispatcher, wrong).await;
    assert_eq!(
        answer["error"]["code"],
        rpc::code::INVALID_PARAMS,
        "{answer}"
    );
    assert_eq!(answer["error"]["data"], json!({"param": "b"}), "{answer}");
    let message = answer["error"]["message"].to_string();
    assert!(message.contains("`b`"), "{answer}");

    // Notifications get no answer, even though the handler runs.
    let body =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": "ring", "params": {"times": 1}}))
            .unwrap();
    assert_eq!(dispatcher.handle(&body, &Context::new()).await, None);
}

#[test]
fn derived_errors_convert_to_error_objects_and_back() {
    let cases = [
        KitchenError::OutOfStock {
            item: "eggs".into(),
            left: 2,
        },
        KitchenError::Closed,
        KitchenError::TooHot(300, "oven".into()),
    ];
    for error in cases {
        let object = ErrorObject::from(error.clone());
        assert_eq!(object.message, error.to_string());
        assert_eq!(KitchenError::try_from(object), Ok(error));
    }
    let object = ErrorObject::from(KitchenError::OutOfStock {
        item: "eggs".into(),
        left: 2,
    });
    assert_eq!(object.code, OUT_OF_STOCK);
    assert_eq!(object.data, Some(json!({"item": "eggs", "left": 2})));
    let object = ErrorObject::from(KitchenError::TooHot(300, "oven".into()));
    assert_eq!(object.data, Some(json!([300, "oven"])));
    let object = ErrorObject::from(KitchenError::Broken("lid".into()));
    assert_eq!((object.code, object.data.clone()), (-32013, None));
    assert_eq!(KitchenError::try_from(object.clone()), Err(object));
    // Right code, unreadable data: not rebuilt.
    let odd = ErrorObject::new(OUT_OF_STOCK, "out").with_data(json!({"item": 1}));
    assert_eq!(KitchenError::try_from(odd.clone()), Err(odd));
}

/// In a module of its own: its client trait's `client`, `batch` and `send`
/// would take over those calls in the other tests.
mod clashing {
    use super::InProcess;
    use rpc::rpc;
    use std::time::Duration;

    /// A service whose methods take the names of `Client`'s own methods and of
    /// the batch's `send`.
    #[rpc]
    #[allow(clippy::wrong_self_convention)]
    trait Clashing {
        async fn new(&self, name: String) -> String;
        async fn send(&self, to: String) -> bool;
        async fn batch(&self, size: u32) -> u32;
        async fn client(&self) -> String;
        async fn with_timeout(&self, ms: u64) -> u64;
    }

    struct Clasher;

    impl Clashing for Clasher {
        async fn new(&self, name: String) -> String {
            format!("new {name}")
        }
        async fn send(&self, to: String) -> bool {
            to == "ann"
        }
        async fn batch(&self, size: u32) -> u32 {
            size * 2
        }
        async fn client(&self) -> String {
            "client".into()
        }
        async fn with_timeout(&self, ms: u64) -> u64 {
            ms + 1
        }
    }

    #[tokio::test]
    async fn service_methods_may_take_the_names_of_the_clients_own() {
        let client = rpc::Client::new(InProcess::new(Clasher.into_rpc()));
        // Names that no method of `Client` takes: called as usual.
        assert_eq!(client.new("x".into()).await.unwrap(), "new x");
        assert!(client.send("ann".into()).await.unwrap());
        assert_eq!(client.client().await.unwrap(), "client");
        // `batch` and `with_timeout` are `Client`'s own; the service's, by path.
        assert_eq!(ClashingClient::batch(&client, 4).await.unwrap(), 8);
        assert_eq!(ClashingClient::with_timeout(&client, 9).await.unwrap(), 10);
        let client = client.with_timeout(Duration::from_secs(5));
        assert_eq!(client.timeout(), Some(Duration::from_secs(5)));
        // In a batch, `send` is the batch's own.
        let batch = ClashingBatch::send(client.batch(), "bo".into())
            .batch(1)
            .new("y".into());
        let (sent, doubled, made) = batch.send().await.unwrap();
        assert_eq!(
            (sent.unwrap(), doubled.unwrap(), made.unwrap()),
            (false, 2, "new y".to_owned())
        );
    }
}

mod app {
    /// A user's own type that happens to be called `Context`.
    #[derive(
        Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
    )]
    pub(crate) struct Context {
        pub tenant: String,
    }
}

#[rpc]
trait Tenants {
    /// `app::Context` is a parameter like any other; `rpc::Context` is the
    /// request context.
    async fn tenant(&self, ctx: app::Context, request: rpc::Context) -> String;
}

struct TenantService;

impl Tenants for TenantService {
    async fn tenant(&self, ctx: app::Context, request: rpc::Context) -> String {
        let caller = request.get::<Caller>().map_or("nobody", |c| c.0.as_str());
        format!("{} for {caller}", ctx.tenant)
    }
}

#[tokio::test]
async fn a_users_own_context_type_is_a_parameter() {
    let methods = TenantService.into_rpc();
    let info = methods.get("tenant").unwrap().info();
    assert_eq!(info.params.len(), 1);
    assert_eq!(info.params[0].name, "ctx");
    let transport = InProcess::new(methods).with_context(Context::new().with(Caller("ann".into())));
    let client = rpc::Client::new(transport);
    let answer = client
        .tenant(app::Context {
            tenant: "acme".into(),
        })
        .await
        .unwrap();
    assert_eq!(answer, "acme for ann");
}

/// A service with a method named like one of `Kitchen`'s: a module of its own.
mod ledger {
    use super::{InProcess, KitchenError};
    use rpc::rpc;

    /// An error type with no JSON-RPC mapping of its own: a plain
    /// `std::error::Error` whose cause travels as its source.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the ledger")]
    pub(crate) struct LedgerError(#[source] std::io::Error);

    /// Methods failing with errors that are `std::error::Error` but not
    /// `Into<ErrorObject>`, next to one that keeps its own mapping.
    #[rpc]
    pub(crate) trait Ledger {
        /// Fails with a `thiserror` type whose source is an I/O error.
        async fn open(&self) -> Result<u64, LedgerError>;
        /// Fails with `std::io::Error` itself.
        async fn read(&self, fail: bool) -> Result<String, std::io::Error>;
        /// Fails with a boxed error, which holds a `std::error::Error`.
        async fn check(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
        /// A type that is `Into<ErrorObject>` keeps its own code and message.
        async fn order(&self) -> Result<u32, KitchenError>;
    }

    struct Books;

    impl Ledger for Books {
        async fn open(&self) -> Result<u64, LedgerError> {
            Err(LedgerError(std::io::Error::other("permission denied")))
        }
        async fn read(&self, fail: bool) -> Result<String, std::io::Error> {
            if fail {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such page",
                ))
            } else {
                Ok("page".into())
            }
        }
        async fn check(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err("the books do not balance".into())
        }
        async fn order(&self) -> Result<u32, KitchenError> {
            Err(KitchenError::Closed)
        }
    }

    #[tokio::test]
    async fn std_errors_answer_internal_error_with_their_text_and_sources() {
        let client = rpc::Client::new(InProcess::new(Books.into_rpc()));
        let code_and_message = |err: rpc::Error| {
            let object = err.error_object().expect("a JSON-RPC error").clone();
            (object.code, object.message.into_owned())
        };
        assert_eq!(
            code_and_message(client.open().await.unwrap_err()),
            (
                rpc::code::INTERNAL_ERROR,
                "Internal error: cannot open the ledger: permission denied".to_owned()
            )
        );
        assert_eq!(client.read(false).await.unwrap(), "page");
        assert_eq!(
            code_and_message(client.read(true).await.unwrap_err()),
            (
                rpc::code::INTERNAL_ERROR,
                "Internal error: no such page".to_owned()
            )
        );
        assert_eq!(
            code_and_message(client.check().await.unwrap_err()),
            (
                rpc::code::INTERNAL_ERROR,
                "Internal error: the books do not balance".to_owned()
            )
        );
        let err = client.order().await.unwrap_err();
        assert_eq!(
            err.application::<KitchenError>().unwrap(),
            KitchenError::Closed
        );
    }
}

#[test]
fn a_source_already_in_the_message_is_not_repeated() {
    #[derive(Debug, thiserror::Error)]
    #[error("reading config: {0}")]
    struct Config(#[source] std::io::Error);
    let object = ErrorObject::from_error(&Config(std::io::Error::other("denied")));
    assert_eq!(object.message, "Internal error: reading config: denied");
}

/// A generic service: one contract, served and called for each concrete
/// item type.
#[rpc]
pub trait Store<
    T: Serialize + serde::de::DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static,
> where
    T: Clone,
{
    /// Keeps `item`; answers its id.
    async fn put(&self, item: T) -> u64;
    /// The item kept under `id`, if any.
    async fn get(&self, id: u64) -> Option<T>;
    /// Every item, or an error when there are none.
    async fn all(&self) -> Result<Vec<T>, ErrorObject>;
}

/// Keeps items of any type in memory.
struct Shelves<T> {
    items: Mutex<Vec<T>>,
}

impl<T> Shelves<T> {
    fn new() -> Self {
        Shelves {
            items: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Store<T> for Shelves<T>
where
    T: Serialize
        + serde::de::DeserializeOwned
        + schemars::JsonSchema
        + Clone
        + Send
        + Sync
        + 'static,
{
    async fn put(&self, item: T) -> u64 {
        let mut items = self.items.lock().unwrap();
        items.push(item);
        items.len() as u64 - 1
    }
    async fn get(&self, id: u64) -> Option<T> {
        self.items.lock().unwrap().get(id as usize).cloned()
    }
    async fn all(&self) -> Result<Vec<T>, ErrorObject> {
        let items = self.items.lock().unwrap().clone();
        if items.is_empty() {
            return Err(ErrorObject::new(-32020, "empty"));
        }
        Ok(items)
    }
}

/// A store of one concrete type only.
struct Points;

impl Store<Point> for Points {
    async fn put(&self, item: Point) -> u64 {
        item.x as u64
    }
    async fn get(&self, id: u64) -> Option<Point> {
        Some(Point { x: id as i64, y: 0 })
    }
    async fn all(&self) -> Result<Vec<Point>, ErrorObject> {
        Ok(vec![])
    }
}

#[tokio::test]
async fn generic_trait_serves_and_calls_each_concrete_type() {
    let strings = rpc::Client::new(InProcess::new(Shelves::<String>::new().into_rpc()));
    // The type parameter is inferred from the arguments or the result,
    // else named: `StoreClient::<String>::all(&strings)`.
    let err = StoreClient::<String>::all(&strings).await.unwrap_err();
    assert_eq!(err.error_object().unwrap().code, -32020);
    assert_eq!(strings.put("tea".to_owned()).await.unwrap(), 0);
    assert_eq!(strings.put(String::from("jam")).await.unwrap(), 1);
    let jam: Option<String> = strings.get(1).await.unwrap();
    assert_eq!(jam.as_deref(), Some("jam"));
    assert_eq!(strings.get(7).await.unwrap(), None::<String>);
    let (put, all): (_, Result<Vec<String>, _>) = strings
        .batch()
        .put("oat".to_owned())
        .all()
        .send()
        .await
        .unwrap();
    assert_eq!(put.unwrap(), 2);
    assert_eq!(all.unwrap(), ["tea", "jam", "oat"]);

    let points =
        rpc::Client::new(InProcess::new(Shelves::<Point>::new().into_rpc())).with_named_params();
    let p = Point { x: 1, y: 2 };
    assert_eq!(points.put(p.clone()).await.unwrap(), 0);
    assert_eq!(points.get(0).await.unwrap(), Some(p));

    let fixed = rpc::Client::new(InProcess::new(Points.into_rpc()));
    assert_eq!(fixed.get(4).await.unwrap(), Some(Point { x: 4, y: 0 }));
}

#[tokio::test]
async fn generic_trait_over_http_describes_the_concrete_types() {
    let put_schema = |methods: MethodTable| {
        let document: Value = serde_json::from_str(
            rpc::server::Dispatcher::new(methods)
                .discovery_document()
                .get(),
        )
        .unwrap();
        let put = document["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "put")
            .cloned()
            .unwrap();
        put["params"][0]["schema"].clone()
    };
    assert_eq!(
        put_schema(Shelves::<Point>::new().into_rpc()),
        json!({"$ref": "#/components/schemas/Point"})
    );
    assert_eq!(
        put_schema(Shelves::<String>::new().into_rpc()),
        json!({"type": "string"})
    );

    let methods = Shelves::<Point>::new().into_rpc();
    let listening = rpc::http::Server::new(methods)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}/", listening.local_addr().unwrap());
    let _stop = listening.shutdown().clone();
    tokio::spawn(listening.run());
    let points = rpc::Client::new(rpc::http::HttpClient::new(&url).unwrap());
    let p = Point { x: 3, y: 4 };
    assert_eq!(points.put(p.clone()).await.unwrap(), 0);
    assert_eq!(points.get(0).await.unwrap(), Some(p));
}

/// A type without `JsonSchema` (a client-only crate's, say, in a build where
/// another crate turns the server and its schemas on).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct PlainNote {
    text: String,
}

#[rpc]
trait PlainNotes {
    /// Keeps a note; returns it.
    async fn keep(&self, note: PlainNote) -> PlainNote;
}

struct PlainNotesService;

impl PlainNotes for PlainNotesService {
    async fn keep(&self, note: PlainNote) -> PlainNote {
        note
    }
}

#[tokio::test]
async fn a_type_without_json_schema_compiles_serves_and_is_described_as_having_none() {
    let methods = PlainNotesService.into_rpc();
    let client = rpc::Client::new(rpc::InProcess::new(methods.clone()));
    let note = PlainNote { text: "hi".into() };
    assert_eq!(
        client.keep(PlainNote { text: "hi".into() }).await.unwrap(),
        note
    );
    let document = rpc::server::discover::document(&methods);
    let param = &document["methods"][0]["params"][0]["schema"];
    let description = param["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("PlainNote") && description.contains("no schema"),
        "{document:#}"
    );
}

/// LSP's style: each method takes its params object whole.
mod params_object {
    use rpc::rpc;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Opened {
        pub text_document: String,
        pub version: Option<i64>,
    }

    #[rpc]
    pub(crate) trait Editor {
        #[rpc(name = "textDocument/didOpen", params_object)]
        async fn did_open(&self, params: Opened) -> String;
    }

    struct Buffers;

    impl Editor for Buffers {
        async fn did_open(&self, params: Opened) -> String {
            format!("{} v{}", params.text_document, params.version.unwrap_or(0))
        }
    }

    #[tokio::test]
    async fn the_one_parameter_is_the_whole_params_object_both_ways() {
        let methods = Buffers.into_rpc();
        let dispatcher = rpc::server::Dispatcher::new(methods.clone());
        let ctx = rpc::Context::new();
        // Unknown fields are the type's business (serde ignores them here).
        let answer = dispatcher
            .handle(
                br#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":"a.rs","version":3,"languageId":"rust"},"id":1}"#,
                &ctx,
            )
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["result"], "a.rs v3");
        // Positional params are not this method's shape: -32602.
        let refused = dispatcher
            .handle(
                br#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":["a.rs"],"id":2}"#,
                &ctx,
            )
            .await
            .unwrap();
        let refused: serde_json::Value = serde_json::from_slice(&refused).unwrap();
        assert_eq!(refused["error"]["code"], -32602);
        // The client sends the object as `params` itself, named or not.
        let client = rpc::Client::new(rpc::InProcess::new(methods));
        let opened = Opened {
            text_document: "b.rs".into(),
            version: None,
        };
        assert_eq!(client.did_open(opened.clone()).await.unwrap(), "b.rs v0");
        let mut params = rpc::client::ParamsBuilder::object(&opened);
        params.push("extra", &1);
        assert!(
            params.finish().is_err(),
            "nothing is added to a whole object"
        );
        assert_eq!(
            rpc::client::ParamsBuilder::object(&opened)
                .finish()
                .unwrap()
                .unwrap()
                .get(),
            json!({"textDocument": "b.rs", "version": null}).to_string()
        );
        // The document says so.
        let document: serde_json::Value =
            serde_json::from_str(dispatcher.discovery_document().get()).unwrap();
        let method = &document["methods"][0];
        assert_eq!(method["paramStructure"], "by-name");
        assert_eq!(method["x-params-object"], true);
    }
}
