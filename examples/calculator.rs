//! The calculator service: the JSON-RPC 2.0 specification's example methods
//! plus a few, served over HTTP, WebSocket and TCP, and a command-line
//! client built on the generated typed client.
//!
//! ```text
//! calculator serve [--http ADDR] [--tcp ADDR] [--framing newline|length-prefix-1|length-prefix-2|length-prefix-4] [--auth-token TOKEN] [--backplane redis://HOST:PORT|nats://HOST:PORT]
//! calculator call URL METHOD [ARG...] [--named] [--framing F] [--timeout-ms N] [--token T] [--ca-cert FILE]
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rpc::auth::{Credentials, Roles};
use rpc::duplex::Connections;
use rpc::middleware::{from_fn, Call, FromFnLayer, Next};
use rpc::subscription::Topics;
use rpc::tcp::{Framing, StreamOptions};
use rpc::Subscription;
use rpc::{rpc, Context};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The calculator's application errors: each variant's code travels in the
/// error object, and the client gets the variant back.
#[derive(Debug, Clone, PartialEq, thiserror::Error, rpc::RpcError)]
pub enum CalcError {
    /// `divide` with `b == 0`.
    #[error("Division by zero")]
    #[rpc(code = -32000)]
    DivisionByZero,
    /// A method that needs a duplex connection was called over plain HTTP.
    #[error("{0} needs a duplex connection (WebSocket or TCP)")]
    #[rpc(code = -32002)]
    NeedsDuplex(&'static str),
    /// An integer result that does not fit in 64 bits.
    #[error("Integer overflow")]
    #[rpc(code = -32003)]
    Overflow,
    /// An argument outside the accepted range.
    #[error("{0}")]
    #[rpc(code = rpc::code::INVALID_PARAMS)]
    OutOfRange(String),
}

/// Summary statistics of a list of numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Stats {
    /// How many values there are.
    pub count: u64,
    /// Their mean; `null` for an empty list.
    pub mean: Option<f64>,
    /// The smallest; `null` for an empty list.
    pub min: Option<f64>,
    /// The largest; `null` for an empty list.
    pub max: Option<f64>,
}

/// A shape, tagged by its `kind`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Shape {
    /// A circle of the given radius.
    Circle {
        /// Its radius.
        radius: f64,
    },
    /// A rectangle.
    Rect {
        /// Its width.
        width: f64,
        /// Its height.
        height: f64,
    },
}

/// The JSON-RPC 2.0 specification's example methods, and a few more.
#[rpc]
pub trait Calculator {
    /// Subtracts `subtrahend` from `minuend`.
    #[rpc(idempotent)]
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> Result<i64, CalcError>;

    /// Adds three integers.
    #[rpc(idempotent)]
    async fn sum(&self, a: i64, b: i64, c: i64) -> Result<i64, CalcError>;

    /// Adds two integers.
    #[rpc(idempotent)]
    async fn add(&self, a: i64, b: i64) -> Result<i64, CalcError>;

    /// Returns `["hello", 5]`.
    #[rpc(idempotent)]
    async fn get_data(&self) -> (String, i64);

    /// Accepts five values and does nothing (the specification's notification example).
    #[rpc(notification)]
    async fn update(&self, a: Value, b: Value, c: Value, d: Value, e: Value);

    /// Does nothing with `n`.
    #[rpc(notification)]
    async fn notify_hello(&self, n: Value);

    /// Does nothing with three integers.
    #[rpc(notification)]
    async fn notify_sum(&self, a: Value, b: Value, c: Value);

    /// Returns "Hello, [title ]name!".
    #[rpc(idempotent)]
    async fn greet(&self, name: String, title: Option<String>) -> String;

    /// Divides `a` by `b`; fails with -32000 "Division by zero" when `b` is 0.
    #[rpc(idempotent)]
    async fn divide(&self, a: f64, b: f64) -> Result<f64, CalcError>;

    /// Returns its argument unchanged.
    #[rpc(idempotent)]
    async fn echo(&self, value: Value) -> Value;

    /// Waits `ms` milliseconds, then returns `ms`.
    #[rpc(idempotent)]
    async fn sleep(&self, ms: u64) -> u64;

    /// Sends `count` notifications `tick` with params `[i]` to the caller, then returns `count`.
    #[rpc(notifies = ["tick"])]
    async fn notify_me(&self, count: u64, ctx: Context) -> Result<u64, CalcError>;

    /// Sends notification `message` with params `[message]` to every connected
    /// duplex client; returns how many it reached.
    #[rpc(notifies = ["message"])]
    async fn broadcast(&self, message: String) -> usize;

    /// Ticks `0, 1, ...` every `interval_ms` (notification `ticks`); with
    /// `count`, that many, then the end.
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn subscribe_ticks(
        &self,
        interval_ms: u64,
        count: Option<u64>,
    ) -> Result<Subscription<u64>, CalcError>;

    /// The messages published to `topic` (notification `topic`).
    #[rpc(subscription = "topic", unsubscribe = "unsubscribe_topic")]
    async fn subscribe_topic(&self, topic: String) -> Subscription<Value>;

    /// Delivers `message` to every subscriber of `topic`; returns how many
    /// subscriptions took it on this instance.
    async fn publish(&self, topic: String, message: Value) -> u64;

    /// Count, mean, smallest and largest of `values`.
    ///
    /// - `values`: the numbers to summarize (may be empty)
    #[rpc(idempotent)]
    async fn stats(&self, values: Vec<f64>) -> Stats;

    /// The area of `shape`.
    ///
    /// - `shape`: `{"kind":"circle","radius":R}` or `{"kind":"rect","width":W,"height":H}`
    #[rpc(idempotent)]
    async fn area(&self, shape: Shape) -> f64;
}

/// Arithmetic under the `math` namespace.
#[rpc(namespace = "math")]
pub trait Math {
    /// Multiplies two integers.
    #[rpc(idempotent)]
    async fn multiply(&self, a: i64, b: i64) -> Result<i64, CalcError>;
}

/// Operations on the running instance; every caller needs the `admin` role
/// (`serve --auth-token T` grants it to `Authorization: Bearer T`).
#[rpc(namespace = "admin", requires = "admin")]
pub trait Admin {
    /// Open WebSocket and TCP connections on this instance, the caller's included.
    #[rpc(idempotent)]
    async fn connections(&self) -> u64;

    /// Handler futures alive on this instance (every transport, batch
    /// members and notifications included, this call included).
    #[rpc(idempotent)]
    async fn active_calls(&self) -> u64;
}

/// What the server sends to duplex clients; the `call` command serves it
/// on its side of the connection and reports each notification on stderr.
#[rpc]
pub trait Events {
    /// One of `notify_me`'s notifications.
    #[rpc(notification)]
    async fn tick(&self, i: u64);

    /// A `broadcast` message.
    #[rpc(notification)]
    async fn message(&self, message: String);
}

struct Calc {
    connections: Connections,
    /// Each topic's subscriptions.
    topics: Topics,
}

/// The most ticks one subscription may ask for.
const MAX_TICKS: u64 = 100_000;

impl Calculator for Calc {
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> Result<i64, CalcError> {
        minuend.checked_sub(subtrahend).ok_or(CalcError::Overflow)
    }

    async fn sum(&self, a: i64, b: i64, c: i64) -> Result<i64, CalcError> {
        a.checked_add(b)
            .and_then(|s| s.checked_add(c))
            .ok_or(CalcError::Overflow)
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_add(b).ok_or(CalcError::Overflow)
    }

    async fn get_data(&self) -> (String, i64) {
        ("hello".to_owned(), 5)
    }

    async fn update(&self, _a: Value, _b: Value, _c: Value, _d: Value, _e: Value) {}

    async fn notify_hello(&self, _n: Value) {}

    async fn notify_sum(&self, _a: Value, _b: Value, _c: Value) {}

    async fn greet(&self, name: String, title: Option<String>) -> String {
        match title {
            Some(title) => format!("Hello, {title} {name}!"),
            None => format!("Hello, {name}!"),
        }
    }

    async fn divide(&self, a: f64, b: f64) -> Result<f64, CalcError> {
        if b == 0.0 {
            return Err(CalcError::DivisionByZero);
        }
        Ok(a / b)
    }

    async fn echo(&self, value: Value) -> Value {
        value
    }

    async fn sleep(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    async fn notify_me(&self, count: u64, ctx: Context) -> Result<u64, CalcError> {
        let caller = rpc::duplex::caller(&ctx).ok_or(CalcError::NeedsDuplex("notify_me"))?;
        if count > MAX_TICKS {
            return Err(CalcError::OutOfRange(format!(
                "count must be at most {MAX_TICKS}"
            )));
        }
        for i in 0..count {
            if caller.notify("tick", [i]).await.is_err() {
                break;
            }
        }
        Ok(count)
    }

    async fn broadcast(&self, message: String) -> usize {
        self.connections
            .broadcast("message", [&message])
            .await
            .unwrap_or(0)
    }

    async fn subscribe_ticks(
        &self,
        interval_ms: u64,
        count: Option<u64>,
    ) -> Result<Subscription<u64>, CalcError> {
        if interval_ms == 0 || interval_ms > 3_600_000 {
            return Err(CalcError::OutOfRange(
                "interval_ms must be between 1 and 3600000".into(),
            ));
        }
        let period = Duration::from_millis(interval_ms);
        let ticks = futures_util::stream::unfold(0u64, move |i| async move {
            if i > 0 {
                tokio::time::sleep(period).await;
            }
            Some((i, i + 1))
        });
        Ok(match count {
            Some(count) => {
                Subscription::new(ticks.take(usize::try_from(count).unwrap_or(usize::MAX)))
            }
            None => Subscription::new(ticks),
        })
    }

    async fn subscribe_topic(&self, topic: String) -> Subscription<Value> {
        self.topics.subscribe(&topic)
    }

    async fn publish(&self, topic: String, message: Value) -> u64 {
        // Also to the other instances, with a backplane.
        self.topics.publish(&topic, &message)
    }

    async fn stats(&self, values: Vec<f64>) -> Stats {
        let count = values.len() as u64;
        let fold = |pick: fn(f64, f64) -> f64| values.iter().copied().reduce(pick);
        Stats {
            count,
            mean: (count > 0).then(|| values.iter().sum::<f64>() / count as f64),
            min: fold(f64::min),
            max: fold(f64::max),
        }
    }

    async fn area(&self, shape: Shape) -> f64 {
        match shape {
            Shape::Circle { radius } => std::f64::consts::PI * radius * radius,
            Shape::Rect { width, height } => width * height,
        }
    }
}

struct Multiplier;

impl Math for Multiplier {
    async fn multiply(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_mul(b).ok_or(CalcError::Overflow)
    }
}

struct PrintEvents;

impl Events for PrintEvents {
    async fn tick(&self, i: u64) {
        eprintln!("notification tick [{i}]");
    }

    async fn message(&self, message: String) {
        eprintln!("notification message [{message:?}]");
    }
}

struct Administration {
    connections: Connections,
    active: Arc<AtomicU64>,
}

impl Admin for Administration {
    async fn connections(&self) -> u64 {
        self.connections.len() as u64
    }

    async fn active_calls(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }
}

/// A middleware counting the handler futures alive: one more when a call
/// starts, one less when its future ends or is dropped (a closed connection).
fn count_active(
    active: Arc<AtomicU64>,
) -> FromFnLayer<impl Fn(Call, Next) -> CallFuture + Clone + Send + Sync + 'static> {
    from_fn(move |call: Call, next: Next| -> CallFuture {
        let alive = Alive::new(&active);
        Box::pin(async move {
            let _alive = alive;
            next.run(call).await
        })
    })
}

/// What a call through the middleware comes to.
type CallFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<Box<serde_json::value::RawValue>, rpc::client::BoxError>,
            > + Send,
    >,
>;

/// Counts one live call until dropped.
struct Alive(Arc<AtomicU64>);

impl Alive {
    fn new(active: &Arc<AtomicU64>) -> Alive {
        active.fetch_add(1, Ordering::Relaxed);
        Alive(active.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

const USAGE: &str = "usage:
  calculator serve [--http ADDR] [--tcp ADDR] [--framing newline|length-prefix-1|length-prefix-2|length-prefix-4] [--auth-token TOKEN] [--backplane redis://HOST:PORT|nats://HOST:PORT]
  calculator call URL METHOD [ARG...] [--named] [--framing F] [--timeout-ms N] [--token T] [--ca-cert FILE]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match args.first().map(String::as_str) {
        Some("serve") => runtime.block_on(serve(&args[1..])),
        Some("call") => runtime.block_on(call(&args[1..])),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Takes the value after `--flag`.
fn flag_value<'a>(
    args: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<&'a String, String> {
    args.next()
        .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
}

async fn serve(args: &[String]) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (mut http, mut tcp, mut framing) = (None, None, Framing::Newline);
    let mut auth_token: Option<String> = None;
    let mut backplane_url: Option<String> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let parsed = match arg.as_str() {
            "--http" => flag_value(&mut iter, "--http").map(|v| http = Some(v.clone())),
            "--tcp" => flag_value(&mut iter, "--tcp").map(|v| tcp = Some(v.clone())),
            "--auth-token" => {
                flag_value(&mut iter, "--auth-token").map(|v| auth_token = Some(v.clone()))
            }
            "--backplane" => {
                flag_value(&mut iter, "--backplane").map(|v| backplane_url = Some(v.clone()))
            }
            "--framing" => flag_value(&mut iter, "--framing").and_then(|v| {
                v.parse()
                    .map(|f| framing = f)
                    .map_err(|e: rpc::tcp::UnknownFraming| e.to_string())
            }),
            other => Err(format!("unknown argument `{other}`\n{USAGE}")),
        };
        if let Err(e) = parsed {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    if http.is_none() && tcp.is_none() {
        http = Some("127.0.0.1:3000".to_owned());
    }
    let (mut connections, mut topics) = (Connections::new(), Topics::new());
    if let Some(url) = &backplane_url {
        // Reached in the background: a broker that is down is retried
        // while this instance serves its own clients.
        match rpc_backplane::connect(url).await {
            Ok(backplane) => {
                connections = connections.with_backplane(backplane.clone());
                topics = topics.with_backplane(backplane);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let active = Arc::new(AtomicU64::new(0));
    let admin = Administration {
        connections: connections.clone(),
        active: active.clone(),
    };
    let methods = match (Calc {
        connections: connections.clone(),
        topics,
    })
    .into_rpc()
    .with_info(rpc::server::ServiceInfo {
        title: "calculator".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: Some(
            "The JSON-RPC 2.0 specification's example methods, structured types, subscriptions and an admin namespace.".into(),
        ),
    })
    .merge(Multiplier.into_rpc())
    .and_then(|m| m.merge(admin.into_rpc()))
    {
        Ok(methods) => methods,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // SIGTERM and Ctrl-C drain every server: new connections are refused,
    // calls in flight are answered, WebSockets close with 1001.
    let shutdown = rpc::Shutdown::new().on_signals();
    // Metrics of every call, served as Prometheus text at GET /metrics.
    let prometheus = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
    {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot install the metrics recorder: {e}");
            return ExitCode::from(2);
        }
    };
    let metrics_route = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(prometheus.render())),
    );
    let http = match http {
        Some(addr) => {
            // `--auth-token T`: `Authorization: Bearer T` (on a POST or the
            // WebSocket upgrade) grants the `admin` role.
            let token = auth_token.clone();
            let server = rpc::http::Server::new(methods.clone())
                .with_connections(connections.clone())
                .with_shutdown(shutdown.clone())
                .with_layer(count_active(active.clone()))
                .with_metrics()
                .with_routes(metrics_route)
                .with_authentication(move |credentials| match (credentials, &token) {
                    (Credentials::Bearer(given), Some(token)) if given == token => {
                        Some(Roles::new(["admin"]))
                    }
                    _ => None,
                });
            match bound(&addr, server.bind(&addr).await) {
                Ok(listening) => Some(listening),
                Err(code) => return code,
            }
        }
        None => None,
    };
    let tcp = match tcp {
        Some(addr) => {
            // TCP carries no credentials: admin calls get -32001.
            let server = rpc::tcp::TcpServer::new(methods)
                .with_framing(framing)
                .with_connections(connections)
                .with_shutdown(shutdown.clone())
                .with_layer(count_active(active))
                .with_metrics();
            match bound(&addr, server.bind(&addr).await) {
                Ok(listening) => Some(listening),
                Err(code) => return code,
            }
        }
        None => None,
    };
    // One line per listener on stdout, so that port 0 works.
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listening) = http {
        if let Ok(addr) = listening.local_addr() {
            println!("http://{addr}/");
        }
        tasks.spawn(listening.run());
    }
    if let Some(listening) = tcp {
        if let Ok(addr) = listening.local_addr() {
            println!("tcp://{addr}");
        }
        tracing::info!("TCP framing: {framing}");
        tasks.spawn(listening.run());
    }
    let mut code = ExitCode::SUCCESS;
    while let Some(finished) = tasks.join_next().await {
        if let Ok(Err(e)) = finished {
            tracing::error!("server failed: {e}");
            code = ExitCode::from(1);
            shutdown.trigger();
        }
    }
    tracing::info!("drained; exiting");
    code
}

/// A bound listener, or exit code 2 after saying why not.
fn bound<T>(addr: &str, bind: std::io::Result<T>) -> Result<T, ExitCode> {
    bind.map_err(|error| {
        eprintln!("cannot listen on {addr}: {error}");
        ExitCode::from(2)
    })
}

/// Everything `call` was asked to do.
struct CallArgs {
    url: String,
    method: String,
    values: Vec<Value>,
    named: bool,
    framing: Framing,
    timeout: Option<Duration>,
    token: Option<String>,
    ca_cert: Option<String>,
}

fn parse_call_args(args: &[String]) -> Result<CallArgs, String> {
    let (mut positional, mut named, mut framing, mut timeout) =
        (Vec::new(), false, Framing::Newline, None);
    let (mut token, mut ca_cert) = (None, None);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--named" => named = true,
            "--framing" => {
                framing = flag_value(&mut iter, "--framing")?
                    .parse()
                    .map_err(|e: rpc::tcp::UnknownFraming| e.to_string())?
            }
            "--timeout-ms" => {
                let v = flag_value(&mut iter, "--timeout-ms")?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("--timeout-ms expects milliseconds, got `{v}`"))?;
                timeout = Some(Duration::from_millis(ms));
            }
            "--token" => token = Some(flag_value(&mut iter, "--token")?.clone()),
            "--ca-cert" => ca_cert = Some(flag_value(&mut iter, "--ca-cert")?.clone()),
            _ => positional.push(arg.clone()),
        }
    }
    let mut positional = positional.into_iter();
    let (Some(url), Some(method)) = (positional.next(), positional.next()) else {
        return Err(USAGE.to_owned());
    };
    // Each argument is JSON if it parses as JSON, a string otherwise.
    let values = positional
        .map(|a| serde_json::from_str(&a).unwrap_or(Value::String(a)))
        .collect();
    Ok(CallArgs {
        url,
        method,
        values,
        named,
        framing,
        timeout,
        token,
        ca_cert,
    })
}

async fn call(args: &[String]) -> ExitCode {
    let args = match parse_call_args(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match connect(&args).await {
        Ok(client) => {
            let client = match args.timeout {
                Some(timeout) => client.with_timeout(timeout),
                None => client,
            };
            if let Some(code) = run_subscription(&client, &args).await {
                return code;
            }
            run_call(&client, &args).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(rpc::Error::Call(e)) => {
            eprintln!("error {}: {}", e.code, e.message);
            if let Some(data) = &e.data {
                eprintln!("data: {data}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `subscribe_ticks` and `subscribe_topic`: prints each item's result as one
/// compact JSON line as it arrives; exits 0 at the end of the items, 1 on an
/// error object, 2 if the connection is lost (`--timeout-ms` bounds only the
/// subscribe call). `None` for any other method.
async fn run_subscription(engine: &rpc::Client, args: &CallArgs) -> Option<ExitCode> {
    let calc = CalculatorClient::new(engine.clone());
    let calc = if args.named {
        calc.with_named_params()
    } else {
        calc
    };
    let values = &args.values;
    let subscribed = match args.method.as_str() {
        "subscribe_ticks" => {
            let (Some(interval), Some(count)) = (arg::<u64>(values, 0), opt_arg::<u64>(values, 1))
            else {
                eprintln!("usage: subscribe_ticks INTERVAL_MS [COUNT]");
                return Some(ExitCode::from(2));
            };
            calc.subscribe_ticks(interval, count)
                .await
                .map(|s| s.map(|item| item.map(Value::from)).boxed())
        }
        "subscribe_topic" => {
            let Some(topic) = arg::<String>(values, 0) else {
                eprintln!("usage: subscribe_topic TOPIC");
                return Some(ExitCode::from(2));
            };
            calc.subscribe_topic(topic).await.map(|s| s.boxed())
        }
        _ => return None,
    };
    let mut items = match subscribed {
        Ok(items) => items,
        Err(rpc::Error::Call(e)) => {
            eprintln!("error {}: {}", e.code, e.message);
            return Some(ExitCode::from(1));
        }
        Err(e) => {
            eprintln!("{e}");
            return Some(ExitCode::from(2));
        }
    };
    use std::io::Write;
    while let Some(item) = items.next().await {
        match item {
            Ok(value) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{value}");
                let _ = out.flush();
            }
            Err(rpc::Error::Call(e)) => {
                eprintln!("error {}: {}", e.code, e.message);
                return Some(ExitCode::from(1));
            }
            Err(e) => {
                eprintln!("subscription lost: {e}");
                return Some(ExitCode::from(2));
            }
        }
    }
    Some(ExitCode::SUCCESS)
}

/// The client engine over the transport the URL names.
async fn connect(args: &CallArgs) -> Result<rpc::Client, rpc::Error> {
    let url = args.url.as_str();
    let events = PrintEvents.into_rpc();
    let ca_cert = match &args.ca_cert {
        Some(path) => Some(std::fs::read(path).map_err(|e| rpc::Error::Config {
            setting: "--ca-cert",
            source: format!("cannot read {path}: {e}").into(),
        })?),
        None => None,
    };
    let bearer = args.token.as_ref().map(|t| format!("Bearer {t}"));
    if url.starts_with("http://") || url.starts_with("https://") {
        let mut http = rpc::http::HttpClient::new(url)?;
        if let Some(pem) = &ca_cert {
            http = http.with_root_certificates(pem)?;
        }
        if let Some(bearer) = &bearer {
            http = http.with_header("authorization", bearer)?;
        }
        Ok(rpc::Client::new(http))
    } else if url.starts_with("ws://") || url.starts_with("wss://") {
        let mut ws = rpc::ws::WsClient::new(url);
        if let Some(pem) = &ca_cert {
            ws = ws.with_root_certificates(pem)?;
        }
        if let Some(bearer) = &bearer {
            ws = ws.with_header("authorization", bearer)?;
        }
        Ok(rpc::Client::new(ws.connect(events).await?))
    } else if let Some(addr) = url.strip_prefix("tcp://") {
        if args.token.is_some() {
            return Err(rpc::Error::Config {
                setting: "--token",
                source: "needs http(s):// or ws(s)://: TCP carries no credentials".into(),
            });
        }
        let addr = addr.trim_end_matches('/');
        Ok(rpc::Client::new(
            rpc::tcp::connect(addr, &StreamOptions::framing(args.framing), events).await?,
        ))
    } else {
        Err(rpc::Error::InvalidUrl {
            url: url.to_owned(),
            reason: "use http://, https://, ws://, wss:// or tcp://".into(),
        })
    }
}

/// Argument `i` as `T`, or `None` when it is missing or of another type.
fn arg<T: DeserializeOwned>(values: &[Value], i: usize) -> Option<T> {
    values
        .get(i)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Optional argument `i`: missing is `Some(None)`.
fn opt_arg<T: DeserializeOwned>(values: &[Value], i: usize) -> Option<Option<T>> {
    match values.get(i) {
        None | Some(Value::Null) => Some(None),
        Some(_) => arg(values, i).map(Some),
    }
}

fn json<T: serde::Serialize>(result: Result<T, rpc::Error>) -> Result<Value, rpc::Error> {
    result.and_then(|v| serde_json::to_value(v).map_err(rpc::Error::Encode))
}

/// Calls through the typed client when the arguments fit the method's
/// signature; otherwise (unknown method, wrong arguments) sends them as they
/// are, so the server's own answer (-32601, -32602) comes back.
async fn run_call(engine: &rpc::Client, args: &CallArgs) -> Result<Value, rpc::Error> {
    let calc = CalculatorClient::new(engine.clone());
    let math = MathClient::new(engine.clone());
    let (calc, math) = if args.named {
        (calc.with_named_params(), math.with_named_params())
    } else {
        (calc, math)
    };
    let v = &args.values;
    let n = v.len();
    let typed =
        match args.method.as_str() {
            "subtract" if n == 2 => arg(v, 0)
                .zip(arg(v, 1))
                .map(|(a, b)| Box::pin(async move { json(calc.subtract(a, b).await) }) as Pending),
            "sum" if n == 3 => (|| Some((arg(v, 0)?, arg(v, 1)?, arg(v, 2)?)))()
                .map(|(a, b, c)| Box::pin(async move { json(calc.sum(a, b, c).await) }) as Pending),
            "add" if n == 2 => arg(v, 0)
                .zip(arg(v, 1))
                .map(|(a, b)| Box::pin(async move { json(calc.add(a, b).await) }) as Pending),
            "get_data" if n == 0 => {
                Some(Box::pin(async move { json(calc.get_data().await) }) as Pending)
            }
            "update" if n == 5 => {
                let v = v.clone();
                Some(Box::pin(async move {
                    let [a, b, c, d, e]: [Value; 5] = v.try_into().unwrap_or_default();
                    json(calc.update(a, b, c, d, e).await)
                }) as Pending)
            }
            "notify_hello" if n == 1 => {
                let first = v[0].clone();
                Some(Box::pin(async move { json(calc.notify_hello(first).await) }) as Pending)
            }
            "notify_sum" if n == 3 => {
                let (a, b, c) = (v[0].clone(), v[1].clone(), v[2].clone());
                Some(Box::pin(async move { json(calc.notify_sum(a, b, c).await) }) as Pending)
            }
            "greet" if (1..=2).contains(&n) => arg::<String>(v, 0)
                .zip(opt_arg::<String>(v, 1))
                .map(|(name, title)| {
                    Box::pin(async move { json(calc.greet(name, title).await) }) as Pending
                }),
            "divide" if n == 2 => arg(v, 0)
                .zip(arg(v, 1))
                .map(|(a, b)| Box::pin(async move { json(calc.divide(a, b).await) }) as Pending),
            "echo" if n == 1 => {
                let first = v[0].clone();
                Some(Box::pin(async move { json(calc.echo(first).await) }) as Pending)
            }
            "sleep" if n == 1 => {
                arg(v, 0).map(|ms| Box::pin(async move { json(calc.sleep(ms).await) }) as Pending)
            }
            "notify_me" if n == 1 => arg(v, 0)
                .map(|count| Box::pin(async move { json(calc.notify_me(count).await) }) as Pending),
            "broadcast" if n == 1 => {
                arg(v, 0).map(|m| Box::pin(async move { json(calc.broadcast(m).await) }) as Pending)
            }
            "math.multiply" if n == 2 => arg(v, 0)
                .zip(arg(v, 1))
                .map(|(a, b)| Box::pin(async move { json(math.multiply(a, b).await) }) as Pending),
            _ => None,
        };
    match typed {
        Some(call) => call.await,
        None => {
            let mut params = rpc::client::ParamsBuilder::new(false);
            for value in v {
                params.push("", value);
            }
            engine.call::<Value>(&args.method, params).await
        }
    }
}

type Pending =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, rpc::Error>> + Send>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_arguments_are_json_or_strings() {
        let args: Vec<String> = [
            "http://x/",
            "greet",
            "Ann",
            "--named",
            "\"Dr\"",
            "--timeout-ms",
            "50",
        ]
        .map(String::from)
        .to_vec();
        let parsed = parse_call_args(&args).unwrap();
        assert_eq!(parsed.values, [Value::from("Ann"), Value::from("Dr")]);
        assert!(parsed.named);
        assert_eq!(parsed.timeout, Some(Duration::from_millis(50)));
    }
}
