//! What the dispatcher tells the world about each call: a `tracing` span
//! with OpenTelemetry's RPC attribute names and one debug event (target
//! `rpc::call`), and, when switched on, metrics through the `metrics`
//! facade. Nothing is measured when nobody listens: a call checks one
//! cached `tracing` interest and one flag.

use std::borrow::Cow;
use std::time::Instant;

use crate::{Context, ErrorObject, MethodInfo, MethodResult, TransportKind};

/// A method label for one that is not registered: labels stay bounded
/// whatever callers send.
pub(crate) const UNKNOWN_METHOD: &str = "<unknown>";

/// Whether calls are observed at all.
pub(crate) fn wanted(metrics: bool) -> bool {
    metrics || tracing::enabled!(target: "rpc::call", tracing::Level::DEBUG)
}

/// One observed call, from its start to its outcome.
pub(crate) struct Observed {
    at: Instant,
    /// The registered name (bounded), for labels.
    method: Cow<'static, str>,
    transport: &'static str,
    metrics: bool,
    pub(crate) span: tracing::Span,
}

impl Observed {
    /// Starts observing a call of `called` (`info` when it is registered).
    pub(crate) fn start(
        called: &str,
        info: Option<&MethodInfo>,
        id: Option<&serde_json::value::RawValue>,
        ctx: &Context,
        metrics: bool,
    ) -> Observed {
        let transport = ctx.get::<TransportKind>().map_or("unknown", |t| t.as_str());
        let method = info.map_or(Cow::Borrowed(UNKNOWN_METHOD), |i| i.name.clone());
        let span = tracing::debug_span!(
            target: "rpc::call",
            "rpc.call",
            rpc.system = "jsonrpc",
            rpc.method = called,
            rpc.jsonrpc.request_id = id.map(|id| id.get()),
            rpc.jsonrpc.error_code = tracing::field::Empty,
            transport,
            peer = ctx.get::<std::net::SocketAddr>().map(tracing::field::display),
        );
        if metrics {
            metrics::gauge!("rpc_server_calls_in_flight").increment(1.0);
            metrics::counter!(
                "rpc_server_calls_total",
                "method" => metrics::SharedString::from(method.clone()),
                "transport" => transport
            )
            .increment(1);
        }
        Observed {
            at: Instant::now(),
            method,
            transport,
            metrics,
            span,
        }
    }

    /// Records the outcome: the event, the span's error code, the metrics.
    pub(crate) fn finish(
        self,
        called: &str,
        id: Option<&serde_json::value::RawValue>,
        outcome: &MethodResult,
    ) {
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
        if self.metrics {
            let method = metrics::SharedString::from(self.method.clone());
            metrics::histogram!("rpc_server_duration_seconds", "method" => method.clone())
                .record(elapsed.as_secs_f64());
            if let Some(code) = code {
                metrics::counter!("rpc_server_errors_total", "method" => method, "code" => code.to_string())
                    .increment(1);
            }
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // Finished or dropped (a closed connection): no longer in flight.
        if self.metrics {
            metrics::gauge!("rpc_server_calls_in_flight").decrement(1.0);
        }
    }
}
