//! `calculator call`: one call (or subscription) through the generated
//! typed client, over the transport the URL names.

use std::process::ExitCode;

use futures_util::StreamExt;
use rpc::tcp::StreamOptions;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::CallArgs;
use crate::services::{CalculatorClient, Events, MathClient, PrintEvents};

/// Calls, prints the outcome and says how the process exits: 0 with a
/// result, 1 with a JSON-RPC error, 2 on a transport or protocol failure.
pub(crate) async fn call(args: CallArgs) -> ExitCode {
    let mut child = None;
    let outcome = match connect(&args, &mut child).await {
        Ok(client) => {
            let client = match args.timeout {
                Some(timeout) => client.with_timeout(timeout),
                None => client,
            };
            match run_subscription(&client, &args).await {
                Some(code) => {
                    end_child(child).await;
                    return code;
                }
                None => run_call(&client, &args).await,
            }
        }
        Err(e) => Err(e),
    };
    end_child(child).await;
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
    let calc = if args.named {
        engine.clone().with_named_params()
    } else {
        engine.clone()
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
                .map(|s| s.map(|item| item.map(|n| (Value::from(n), None))).boxed())
        }
        "subscribe_topic" => {
            let (Some(topic), Some(since)) =
                (arg::<String>(values, 0), opt_arg::<String>(values, 1))
            else {
                eprintln!("usage: subscribe_topic TOPIC [SINCE]");
                return Some(ExitCode::from(2));
            };
            // Each item with the event id the server sent beside it.
            calc.subscribe_topic(topic, since).await.map(|s| {
                futures_util::stream::unfold(s, |mut s| async move {
                    let item = s.next().await?;
                    let event = s.last_event().map(str::to_owned);
                    Some((item.map(|value| (value, event)), s))
                })
                .boxed()
            })
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
            Ok((value, event)) => {
                let line = match (args.events, event) {
                    (true, Some(event)) => serde_json::json!({"event": event, "result": value}),
                    _ => value,
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
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

/// With `exec:`: closes the child's stdin and waits up to 5 s for it to
/// exit before ending it.
async fn end_child(child: Option<rpc::stdio::ChildConnection>) {
    if let Some(child) = child {
        if let Err(e) = child.shutdown().await {
            eprintln!("ending the child: {e}");
        }
    }
}

/// The client engine over the transport the URL names; with `exec:`, the
/// child process in `child`.
async fn connect(
    args: &CallArgs,
    child: &mut Option<rpc::stdio::ChildConnection>,
) -> Result<rpc::Client, rpc::Error> {
    let url = args.url.as_str();
    let events = PrintEvents.into_rpc();
    let ca_cert = match &args.ca_cert {
        Some(path) => Some(std::fs::read(path).map_err(|e| rpc::ConfigError::Setting {
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
    } else {
        if args.token.is_some() {
            return Err(rpc::ConfigError::Setting {
                setting: "--token",
                source: "needs http(s):// or ws(s)://: byte streams carry no credentials".into(),
            }
            .into());
        }
        let options = StreamOptions::framing(args.framing);
        if let Some(addr) = url.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            Ok(rpc::Client::new(
                rpc::tcp::connect(addr, &options, events).await?,
            ))
        } else if url.starts_with("tls://") {
            // TLS over TCP: the host names the certificate to expect.
            let mut tls = rpc::tls::TlsClient::new(url).with_options(options);
            if let Some(pem) = &ca_cert {
                tls = tls.with_root_certificates(pem)?;
            }
            Ok(rpc::Client::new(tls.connect(events).await?))
        } else if let Some(path) = url.strip_prefix("unix://") {
            Ok(rpc::Client::new(
                rpc::unix::connect(path, &options, events).await?,
            ))
        } else if let Some(command) = url.strip_prefix("exec:") {
            let mut words = command.split(' ').filter(|w| !w.is_empty());
            let Some(program) = words.next() else {
                return Err(rpc::ConfigError::InvalidUrl {
                    url: url.to_owned(),
                    reason: "no program after `exec:`".into(),
                }
                .into());
            };
            let mut command = tokio::process::Command::new(program);
            command.args(words);
            let spawned = rpc::stdio::spawn(&mut command, &options, events)
                .map_err(|e| rpc::Error::Connect(Box::new(e)))?;
            let client = rpc::Client::new(spawned.connection().clone());
            *child = Some(spawned);
            Ok(client)
        } else {
            Err(rpc::ConfigError::InvalidUrl {
                url: url.to_owned(),
                reason: "use http://, https://, ws://, wss://, tcp://, tls://, unix:// or exec:"
                    .into(),
            }
            .into())
        }
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
    // One client calls both services: `CalculatorClient` and `MathClient`
    // are traits, each giving it the methods of its service.
    let client = if args.named {
        engine.clone().with_named_params()
    } else {
        engine.clone()
    };
    let (calc, math) = (client.clone(), client);
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

/// A typed call under way.
type Pending =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, rpc::Error>> + Send>>;
