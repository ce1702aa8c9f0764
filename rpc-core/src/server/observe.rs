//! What the dispatcher tells the world about each call: a `tracing` span
//! with OpenTelemetry's RPC attribute names and one debug event (target
//! `rpc::call`), and, when switched on, metrics through the `metrics`
//! facade. Nothing is measured when nobody listens: a call checks one
//! cached `tracing` interest and one flag. Each metric handle is
//! registered once, on its first use (so a series appears only for the
//! methods and transports actually used, and the recorder in place then
//! gets it), and a call only bumps it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram, SharedString};
use serde_json::value::RawValue;

use crate::protocol::{Context, ErrorObject, TransportKind};
use crate::server::{Method, MethodResult, MethodTable};

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
    /// By the address of the method's (shared) info: the method was
    /// looked up already, its name is not hashed again.
    methods: HashMap<usize, MethodMeters, BuildHasherDefault<ByAddress>>,
    discover: MethodMeters,
    unknown: MethodMeters,
}

impl Meters {
    pub(crate) fn new(table: &MethodTable) -> Meters {
        let mut methods = HashMap::default();
        for info in table.methods() {
            if let Some(method) = table.get(&info.name) {
                let name = SharedString::from(info.name.clone());
                methods.insert(address(method), MethodMeters::new(name));
            }
        }
        let discover = crate::server::discover::METHOD;
        Meters {
            in_flight: metrics::gauge!("rpc_server_calls_in_flight"),
            methods,
            discover: MethodMeters::new(SharedString::const_str(discover)),
            unknown: MethodMeters::new(SharedString::const_str(UNKNOWN_METHOD)),
        }
    }

    fn of(&self, registered: Option<&Method>, called: &str) -> &MethodMeters {
        match registered {
            Some(method) => self.methods.get(&address(method)).unwrap_or(&self.unknown),
            None if called == crate::server::discover::METHOD => &self.discover,
            None => &self.unknown,
        }
    }

    /// `calls` more in flight until the guard is dropped: counted once per
    /// message (a batch's members together), not per call, and only for
    /// calls still running after their first poll, so that calls on every
    /// thread do not take turns on the gauge's one atomic.
    pub(crate) fn in_flight(&self, calls: usize) -> InFlight<'_> {
        let calls = calls as f64;
        self.in_flight.increment(calls);
        InFlight {
            gauge: &self.in_flight,
            calls,
        }
    }
}

/// The key of a method's meters: the address of its info, which its
/// aliases share.
fn address(method: &Method) -> usize {
    std::sync::Arc::as_ptr(&method.info) as usize
}

/// Hashes an address: one multiplication, folded (the low bits of an
/// address are zeros).
#[derive(Default)]
struct ByAddress(u64);

impl Hasher for ByAddress {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let mixed = u128::from(n) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (mixed as u64) ^ ((mixed >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// The calls of one message counted so far, added to their counter when
/// the method or transport changes, or when the message is started: a
/// batch of 100 calls of one method adds 100 once, instead of 100 times
/// 1 on a counter that calls on every thread share.
#[derive(Default)]
pub(crate) struct Tally<'m> {
    counting: Option<(&'m Counter, u64)>,
}

impl<'m> Tally<'m> {
    fn count(&mut self, counter: &'m Counter) {
        match &mut self.counting {
            Some((same, calls)) if std::ptr::eq(*same, counter) => *calls += 1,
            counting => {
                if let Some((other, calls)) = counting.replace((counter, 1)) {
                    other.increment(calls);
                }
            }
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        if let Some((counter, calls)) = self.counting.take() {
            counter.increment(calls);
        }
    }
}

/// Calls of one message in flight; no longer once dropped (answered, or
/// the connection closed).
pub(crate) struct InFlight<'m> {
    gauge: &'m Gauge,
    calls: f64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.decrement(self.calls);
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
    meters: Option<&'m MethodMeters>,
    pub(crate) span: tracing::Span,
}

impl<'m> Observed<'m> {
    /// Starts observing a call of `called` (`registered`: its method, when
    /// there is one).
    pub(crate) fn start(
        called: &str,
        registered: Option<&Method>,
        id: Option<&RawValue>,
        ctx: &Context,
        meters: Option<&'m Meters>,
        at: Instant,
        tally: &mut Tally<'m>,
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
            peer = ctx.peer().map(tracing::field::display),
            trace_id = tracing::field::Empty,
        );
        // The caller's trace, for a span that is recorded.
        if let Some(parent) = ctx
            .get::<crate::protocol::trace::TraceParent>()
            .filter(|_| !span.is_disabled())
        {
            span.record("trace_id", parent.trace_id_hex());
            #[cfg(feature = "otel")]
            crate::protocol::trace::continue_trace(&span, parent);
        }
        let meters = meters.map(|all| {
            let method = all.of(registered, called);
            if let Some(calls) = method.calls(index) {
                tally.count(calls);
            }
            method
        });
        Observed {
            at,
            transport,
            meters,
            span,
        }
    }

    /// Records the outcome: the event, the span's error code, the metrics.
    pub(crate) fn finish(
        self,
        called: &str,
        id: Option<&RawValue>,
        outcome: &MethodResult,
        now: Instant,
    ) {
        let elapsed = now.saturating_duration_since(self.at);
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
        if let Some(method) = self.meters {
            method.duration().record(elapsed.as_secs_f64());
            if let Some(code) = code {
                metrics::counter!("rpc_server_errors_total", "method" => method.name.clone(), "code" => code.to_string())
                    .increment(1);
            }
        }
    }
}
