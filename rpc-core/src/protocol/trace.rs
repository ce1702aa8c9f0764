//! W3C Trace Context: the `traceparent` header a caller sends continues
//! its trace in the call's span. The HTTP server reads it into the request
//! [`Context`](super::Context); the call's span records its `trace_id`, and
//! with the `otel` feature (and `tracing-opentelemetry` as the subscriber's
//! layer) the span becomes a child of the caller's span. The HTTP client
//! sends a `TraceParent` found in its message's context, or, with `otel`,
//! the current span's.

/// A parsed `traceparent` header: `00-<trace id>-<parent span id>-<flags>`.
///
/// ```
/// use rpc_core::trace::TraceParent;
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse(header).unwrap();
/// assert_eq!(parent.to_header(), header);
/// assert!(TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
/// assert!(TraceParent::parse("zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
/// assert!(TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace's id.
    pub trace_id: [u8; 16],
    /// The caller's span id.
    pub parent_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Reads a `traceparent` value; `None` when malformed, of an unknown
    /// version's shape, or with an all-zero id (invalid by the spec).
    pub fn parse(header: &str) -> Option<TraceParent> {
        let mut parts = header.trim().split('-');
        let version = parts.next()?;
        let (trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?);
        // Version 00 has exactly four parts; later versions may add more.
        let mut version_byte = [0u8; 1];
        hex(version, &mut version_byte)?;
        if version_byte[0] == 0xff || (version_byte[0] == 0 && parts.next().is_some()) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        let mut flag = [0u8; 1];
        hex(trace, &mut trace_id)?;
        hex(parent, &mut parent_id)?;
        hex(flags, &mut flag)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags: flag[0],
        })
    }

    /// The header value.
    pub fn to_header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            encode(&self.parent_id),
            self.flags
        )
    }

    /// The trace id in lowercase hex.
    pub fn trace_id_hex(&self) -> String {
        encode(&self.trace_id)
    }
}

fn hex(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = text.get(i * 2..i * 2 + 2)?;
        if !pair
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(())
}

fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes `span` a child of the remote caller's span.
#[cfg(feature = "otel")]
pub(crate) fn continue_trace(span: &tracing::Span, parent: &TraceParent) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.parent_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The current span's trace position, to send to a callee.
#[cfg(feature = "otel")]
pub fn current() -> Option<TraceParent> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| TraceParent {
        trace_id: span_context.trace_id().to_bytes(),
        parent_id: span_context.span_id().to_bytes(),
        flags: span_context.trace_flags().to_u8(),
    })
}
