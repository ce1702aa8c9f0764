//! Mounting a JSON-RPC service into an existing axum application, next to
//! REST routes and behind the tower layers the app already uses, served
//! with the framework's graceful shutdown and the peer's address
//! (`rpc::http::serve_app` where you would write `axum::serve`).
//!
//! ```sh
//! cargo run --example axum_app            # or: -- 127.0.0.1:0 for any free port
//! curl http://127.0.0.1:3001/health
//! curl -d '{"jsonrpc":"2.0","method":"todo.add","params":["milk"],"id":1}' http://127.0.0.1:3001/rpc
//! curl http://127.0.0.1:3001/todos
//! ```
//!
//! Prints `http://ADDR/` on stdout once listening; SIGTERM or Ctrl-C drains
//! it (requests in flight answered, WebSockets closed with 1001) and it
//! exits 0.

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use rpc::rpc;

/// A to-do list.
#[rpc(namespace = "todo")]
pub trait Todo {
    /// Adds an item; returns how many there are.
    async fn add(&self, item: String) -> usize;

    /// Lists the items.
    async fn list(&self) -> Vec<String>;
}

#[derive(Clone, Default)]
struct Todos(Arc<Mutex<Vec<String>>>);

impl Todos {
    fn items(&self) -> Vec<String> {
        self.0.lock().map(|items| items.clone()).unwrap_or_default()
    }
}

impl Todo for Todos {
    async fn add(&self, item: String) -> usize {
        let Ok(mut items) = self.0.lock() else {
            return 0;
        };
        items.push(item);
        items.len()
    }

    async fn list(&self) -> Vec<String> {
        self.items()
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let todos = Todos::default();
    let rest_view = todos.clone();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/todos",
            get(move || async move { rest_view.items().join("\n") }),
        )
        .nest("/rpc", rpc::http::router(todos.into_rpc()))
        .layer(tower_http::cors::CorsLayer::permissive());
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http://{}/", listener.local_addr()?);
    // In place of `axum::serve(listener, app)`: the same app, with the
    // drain on SIGTERM/Ctrl-C and the peer's address in every call.
    rpc::http::serve_app(listener, app, rpc::Shutdown::new().on_signals()).await
}
