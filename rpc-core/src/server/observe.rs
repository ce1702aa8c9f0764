//! What the dispatcher tells the world about each call: a `tracing` span
//! with OpenTelemetry's RPC attribute names and one debug event (target
//! `rpc::call`), and, when switched on, metrics through the `metrics`
//! facade. Nothing is measured when nobody listens: a call checks one
//! cached `tracing` interest and one flag. Each metric handle is
//! registered once, on its first use (so a series appears only for the
//! methods and transports actually used, and the recorder in place then
//! gets it), and a call only bumps it.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram, SharedString};
use serde_json::value::RawValue;

use crate::protocol::{Context, ErrorObject, TransportKind};
use crate::server::{MethodResult, MethodTable};

/// A method label for one that is not registered: labels stay bounded
/// whatever callers send.
pub(crate) const UNKNOWN_METHOD: &str = "<unknown>";

/// Every transport label, in [`transport_index`] order.
const TRANSPORTS: [&str; 8] = [
    "http",
    "sse",
    "websocket",
    "tcp",
    "unix",
    "stdio",
    "in-process",
    "unknown",
];

fn transport_index(ctx: &Context) -> usize {
    match ctx.get::<TransportKind>() {
        Some(TransportKind::Http) => 0,
        Some(TransportKind::Sse) => 1,
        Some(TransportKind::WebSocket) => 2,
        Some(TransportKind::Tcp) => 3,
        Some(TransportKind::Unix) => 4,
        Some(TransportKind::Stdio) => 5,
        Some(TransportKind::InProcess) => 6,
        None => 7,
    }
}

/// The metric handles of one method, each registered on its first use: a
/// series appears once a method is called on a transport, not before.
struct MethodMeters {
    name: SharedString,
    /// `rpc_server_calls_total`, one per transport.
    calls: [OnceLock<Counter>; TRANSPORTS.len()],
    /// `rpc_server_duration_seconds`.
    duration: OnceLock<Histogram>,
}

impl MethodMeters {
    fn new(name: SharedString) -> Self {
        MethodMeters {
            name,
            calls: Default::default(),
            duration: OnceLock::new(),
        }
    }

    fn calls(&self, transport: usize) -> Option<&Counter> {
        let slot = self.calls.get(transport)?;
        Some(slot.get_or_init(|| {
            metrics::counter!(
                "rpc_server_calls_total",
                "method" => self.name.clone(),
                "transport" => TRANSPORTS.get(transport).copied().unwrap_or("unknown")
            )
        }))
    }

    fn duration(&self) -> &Histogram {
        self.duration.get_or_init(
            || metrics::histogram!("rpc_server_duration_seconds", "method" => self.name.clone()),
        )
    }
}

/// Every metric handle of a dispatcher, registered once.
pub(crate) struct Meters {
    in_flight: Gauge,
    methods: HashMap<Box<str>, MethodMeters>,
    unknown: MethodMeters,
}

impl Meters {
    pub(crate) fn new(table: &MethodTable) -> Meters {
        let mut methods = HashMap::new();
        for info in table.methods() {
            let name = SharedString::from(info.name.clone());
            for called in std::iter::once(&info.name).chain(&info.aliases) {
                methods.insert(Box::from(called.as_ref()), MethodMeters::new(name.clone()));
            }
        }
        let discover = crate::server::discover::METHOD;
        methods.insert(
            Box::from(discover),
            MethodMeters::new(SharedString::const_str(discover)),
        );
        Meters {
            in_flight: metrics::gauge!("rpc_server_calls_in_flight"),
            methods,
            unknown: MethodMeters::new(SharedString::const_str(UNKNOWN_METHOD)),
        }
    }

    fn of(&self, called: &str) -> &MethodMeters {
        self.methods.get(called).unwrap_or(&self.unknown)
    }
}

/// Whether calls are observed at all.
pub(crate) fn wanted(meters: Option<&Meters>) -> bool {
    meters.is_some() || tracing::enabled!(target: "rpc::call", tracing::Level::DEBUG)
}

/// One observed call, from its start to its outcome.
pub(crate) struct Observed<'m> {
    at: Instant,
    transport: &'static str,
    meters: Option<(&'m Meters, &'m MethodMeters)>,
    pub(crate) span: tracing::Span,
}

impl<'m> Observed<'m> {
    /// Starts observing a call of `called`.
    pub(crate) fn start(
        called: &str,
        id: Option<&RawValue>,
        ctx: &Context,
        meters: Option<&'m Meters>,
    ) -> Observed<'m> {
        let index = transport_index(ctx);
        let transport = TRANSPORTS[index];
        let span = tracing::debug_span!(
            target: "rpc::call",
            "rpc.call",
            rpc.system = "jsonrpc",
            rpc.method = called,
            rpc.jsonrpc.request_id = id.map(|id| id.get()),
            rpc.jsonrpc.error_code = tracing::field::Empty,
            transport,
            peer = ctx.get::<std::net::SocketAddr>().map(tracing::field::display),
            trace_id = tracing::field::Empty,
        );
        if let Some(parent) = ctx.get::<crate::protocol::trace::TraceParent>() {
            span.record("trace_id", parent.trace_id_hex());
            #[cfg(feature = "otel")]
            crate::protocol::trace::continue_trace(&span, parent);
        }
        let meters = meters.map(|all| {
            let method = all.of(called);
            all.in_flight.increment(1.0);
            if let Some(calls) = method.calls(index) {
                calls.increment(1);
            }
            (all, method)
        });
        Observed {
            at: Instant::now(),
            transport,
            meters,
            span,
        }
    }

    /// Records the outcome: the event, the span's error code, the metrics.
    pub(crate) fn finish(self, called: &str, id: Option<&RawValue>, outcome: &MethodResult) {
        let elapsed = self.at.elapsed();
        let code = outcome.as_ref().err().map(|e: &ErrorObject| e.code);
        if let Some(code) = code {
            self.span.record("rpc.jsonrpc.error_code", code);
        }
        tracing::debug!(
            target: "rpc::call",
            parent: &self.span,
            method = called,
            id = id.map(|id| id.get()),
            transport = self.transport,
            outcome = if code.is_some() { "error" } else { "ok" },
            code,
            duration_us = elapsed.as_micros() as u64,
            "call"
        );
        if let Some((_, method)) = self.meters {
            method.duration().record(elapsed.as_secs_f64());
            if let Some(code) = code {
                metrics::counter!("rpc_server_errors_total", "method" => method.name.clone(), "code" => code.to_string())
                    .increment(1);
            }
        }
    }
}

impl Drop for Observed<'_> {
    fn drop(&mut self) {
        // Finished or dropped (a closed connection): no longer in flight.
        if let Some((all, _)) = self.meters {
            all.in_flight.decrement(1.0);
        }
    }
}
