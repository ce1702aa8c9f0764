//! The cost of observability and auth: our server with the per-call span,
//! metrics and an auth layer switched on, against itself without them, and
//! against jsonrpsee with equivalent middleware (an HTTP bearer check, and
//! an RPC middleware that opens the same span and records the same
//! metrics). Each runs in a child process with a `tracing` subscriber that
//! wants the spans and a Prometheus recorder installed.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceBuilder, RpcServiceT};
use jsonrpsee::types::Request;
use rpc::middleware::{from_fn, Call, Next};
use tracing::Instrument;

/// The token every benchmark request carries.
pub const TOKEN: &str = "bench";

/// What the observed servers have installed: a subscriber that records
/// `rpc::call` spans (no output), and a metrics recorder.
pub fn install() {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::EnvFilter::new("rpc::call=debug"));
    let _ = tracing::subscriber::set_global_default(subscriber);
    let _ = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
}

/// Our server, plain: what the other rows measure.
pub async fn ours_plain() -> SocketAddr {
    serve(rpc::http::Server::new(crate::servers::methods())).await
}

/// Our server with metrics, the span (the subscriber wants it) and one
/// auth layer: a call layer that checks the bearer token, as jsonrpsee's
/// bearer check does on HTTP.
pub async fn ours_observed() -> SocketAddr {
    install();
    const EXPECTED: &str = "Bearer bench";
    let authorize = from_fn(|call: Call, next: Next| {
        let allowed = call
            .context()
            .get::<rpc::http::HeaderMap>()
            .and_then(|headers| headers.get("authorization"))
            .is_some_and(|value| value.as_bytes() == EXPECTED.as_bytes());
        async move {
            if !allowed {
                return Err(rpc::auth::unauthorized().into());
            }
            next.run(call).await
        }
    });
    let server = rpc::http::Server::new(crate::servers::methods())
        .with_metrics()
        .with_layer(authorize);
    serve(server).await
}

async fn serve(server: rpc::http::Server) -> SocketAddr {
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let addr = listening.local_addr().expect("addr");
    tokio::spawn(listening.run());
    addr
}

/// jsonrpsee with the equivalent: a bearer check on HTTP, and an RPC
/// middleware with the same span and metrics.
pub async fn jsonrpsee_observed() -> SocketAddr {
    install();
    // The plainest bearer check tower-http has (deprecated as too basic for
    // real use; as a cost it is the right one to compare).
    #[allow(deprecated)]
    let http = tower::ServiceBuilder::new()
        .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer(TOKEN));
    let rpc = RpcServiceBuilder::new().layer_fn(|service| Observe { service });
    let server = jsonrpsee::server::Server::builder()
        .set_http_middleware(http)
        .set_rpc_middleware(rpc)
        .build("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let handle = server.start(crate::servers::jsonrpsee_module());
    std::mem::forget(handle);
    addr
}

/// jsonrpsee's middleware: the span and metrics our dispatcher records.
#[derive(Clone)]
struct Observe<S> {
    service: S,
}

impl<S> RpcServiceT for Observe<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let method = request.method_name().to_owned();
        let span = tracing::debug_span!(
            target: "rpc::call",
            "rpc.call",
            rpc.system = "jsonrpc",
            rpc.method = %method,
            rpc.jsonrpc.request_id = %request.id(),
            transport = "http",
        );
        let service = self.service.clone();
        async move {
            let started = Instant::now();
            metrics::counter!("rpc_server_calls_total", "method" => method.clone(), "transport" => "http")
                .increment(1);
            let response = service.call(request).await;
            metrics::histogram!("rpc_server_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(target: "rpc::call", "call");
            response
        }
        .instrument(span)
    }

    fn batch<'a>(
        &self,
        requests: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        self.service.batch(requests)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}
