//! Spans exported through OpenTelemetry, and a trace that crosses the wire:
//! a client span, the HTTP client sends `traceparent`, and the server's
//! call span (`rpc.call`) continues the same trace as its child.
//!
//! ```sh
//! cargo run --example otel --features otel
//! ```
//!
//! It uses the SDK's in-memory exporter so that it can check what was
//! exported and print it; a real program installs an OTLP exporter instead
//! (`opentelemetry-otlp`), the rest is the same.

use std::process::ExitCode;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use rpc::rpc;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[rpc]
pub trait Sums {
    /// Adds two integers.
    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Adder;

impl Sums for Adder {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        // The call spans are at debug level, target `rpc::call`.
        .with(tracing_subscriber::EnvFilter::new(
            "rpc::call=debug,otel=info",
        ))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("rpc-example")));
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("a tracing subscriber is already installed");
        return ExitCode::FAILURE;
    }

    let server = match rpc::http::Server::new(Adder.into_rpc())
        .bind("127.0.0.1:0")
        .await
    {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = match server.local_addr() {
        Ok(addr) => format!("http://{addr}/"),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(server.run());

    let client = match rpc::http::HttpClient::new(&url) {
        Ok(http) => rpc::Client::new(http),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The client's work happens inside a span: the HTTP client sends it as
    // the `traceparent` of its request.
    let sum = client
        .add(20, 22)
        .instrument(tracing::info_span!(target: "otel", "checkout"))
        .await;
    println!("add(20, 22) = {sum:?}");

    if let Err(e) = provider.force_flush() {
        eprintln!("cannot flush the spans: {e}");
    }
    let spans = exporter.get_finished_spans().unwrap_or_default();
    for span in &spans {
        println!(
            "span {:<10} trace {} span {} parent {}",
            span.name,
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id
        );
    }
    let client_span = spans.iter().find(|s| s.name == "checkout");
    let server_span = spans.iter().find(|s| s.name == "rpc.call");
    match (client_span, server_span) {
        (Some(client), Some(server))
            if server.span_context.trace_id() == client.span_context.trace_id()
                && server.parent_span_id == client.span_context.span_id() =>
        {
            println!("the server's call span continues the client's trace");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("the trace did not cross the wire");
            ExitCode::FAILURE
        }
    }
}
