//! Mounting a JSON-RPC service into an existing axum application, next to
//! REST routes and behind the tower layers the app already uses.
//!
//! ```sh
//! cargo run --example axum_app
//! curl http://127.0.0.1:3001/health
//! curl -d '{"jsonrpc":"2.0","method":"todo.add","params":["milk"],"id":1}' http://127.0.0.1:3001/rpc
//! curl http://127.0.0.1:3001/todos
//! ```

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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    eprintln!(
        "listening on http://{}/ (JSON-RPC at /rpc)",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
