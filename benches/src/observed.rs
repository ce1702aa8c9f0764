//! The cost of observability and auth, with the calculator's production
//! configuration: a `from_fn` layer counting the calls alive, metrics on,
//! bearer authentication on, and a `tracing` subscriber at `info` (as
//! `calculator serve` installs; the per-call `debug` span is off). Our
//! server so configured runs against itself without any of it, and
//! against jsonrpsee with the equivalent: an HTTP bearer check, and an RPC
//! middleware that counts the calls alive and records the same metrics,
//! for each member of a batch too. Each runs in a child process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use jsonrpsee::core::middleware::{
    Batch, BatchEntry, Notification, RpcServiceBuilder, RpcServiceT,
};
use jsonrpsee::types::Request;
use jsonrpsee::MethodResponse;
use rpc::middleware::{from_fn, Call, CallLayer, Next};

/// The token every benchmark request carries.
pub const TOKEN: &str = "bench";

/// What the observed servers have installed: a `tracing` subscriber that
/// writes `info` and above (to nowhere), and a metrics recorder.
pub fn install(spans: bool) {
    let filter = if spans {
        "info,rpc::call=debug"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .init();
    let _ = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
}

/// Our server, plain: what the other rows measure.
pub async fn ours_plain() -> SocketAddr {
    serve(rpc::http::Server::new(crate::servers::methods())).await
}

/// Our server as `calculator serve` runs it: the layer counting calls
/// alive, metrics, bearer authentication; `spans`: with every call's
/// `debug` span recorded as well.
pub async fn ours_observed(spans: bool) -> SocketAddr {
    install(spans);
    let server = rpc::http::Server::new(crate::servers::methods())
        .with_layer(count_alive(Arc::default()))
        .with_metrics()
        .with_authentication(|credentials| {
            credentials
                .is_bearer(TOKEN)
                .then(|| rpc::auth::Roles::new(["user"]))
        });
    serve(server).await
}

/// The calculator's middleware: one more call alive while its future runs.
fn count_alive(alive: Arc<AtomicU64>) -> impl CallLayer + Clone {
    from_fn(move |call: Call, next: Next| {
        let alive = Alive::new(&alive);
        async move {
            let _alive = alive;
            next.run(call).await
        }
    })
}

/// Counts one call alive until dropped.
struct Alive(Arc<AtomicU64>);

impl Alive {
    fn new(alive: &Arc<AtomicU64>) -> Alive {
        alive.fetch_add(1, Ordering::Relaxed);
        Alive(alive.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(server: rpc::http::Server) -> SocketAddr {
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let addr = listening.local_addr().expect("addr");
    tokio::spawn(listening.run());
    addr
}

/// jsonrpsee with the equivalent: a bearer check on HTTP, and an RPC
/// middleware counting the calls alive and recording the same metrics.
pub async fn jsonrpsee_observed(spans: bool) -> SocketAddr {
    install(spans);
    // The plainest bearer check tower-http has (deprecated as too basic for
    // real use; as a cost it is the right one to compare).
    #[allow(deprecated)]
    let http = tower::ServiceBuilder::new()
        .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer(TOKEN));
    let alive = Arc::new(AtomicU64::new(0));
    let rpc = RpcServiceBuilder::new().layer_fn(move |service| Observe {
        service,
        alive: alive.clone(),
    });
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

/// jsonrpsee's middleware: the calls alive, the span and metrics our
/// dispatcher records, for single calls and each member of a batch.
#[derive(Clone)]
struct Observe<S> {
    service: S,
    alive: Arc<AtomicU64>,
}

impl<S> RpcServiceT for Observe<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
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
        let alive = Alive::new(&self.alive);
        let call = async move {
            let _alive = alive;
            let started = Instant::now();
            metrics::gauge!("rpc_server_calls_in_flight").increment(1.0);
            metrics::counter!("rpc_server_calls_total", "method" => method.clone(), "transport" => "http")
                .increment(1);
            let response = service.call(request).await;
            metrics::histogram!("rpc_server_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            metrics::gauge!("rpc_server_calls_in_flight").decrement(1.0);
            tracing::debug!(target: "rpc::call", "call");
            response
        };
        tracing::Instrument::instrument(call, span)
    }

    /// Each member through [`Observe::call`], as ours runs each member
    /// through its layers (jsonrpsee's own batch calls the inner service).
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let mut answers =
                jsonrpsee::core::server::BatchResponseBuilder::new_with_limit(usize::MAX);
            let mut notified = false;
            for entry in batch.into_iter() {
                match entry {
                    Ok(BatchEntry::Call(request)) => {
                        if let Err(too_long) = answers.append(this.call(request).await) {
                            return too_long;
                        }
                    }
                    Ok(BatchEntry::Notification(n)) => {
                        notified = true;
                        this.service.notification(n).await;
                    }
                    Err(error) => {
                        let (error, id) = error.into_parts();
                        if let Err(too_long) = answers.append(MethodResponse::error(id, error)) {
                            return too_long;
                        }
                    }
                }
            }
            if answers.is_empty() && notified {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(answers.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.notification(n)
    }
}
