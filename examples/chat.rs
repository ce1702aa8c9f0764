//! A chat room over WebSocket: every client receives the others' messages
//! as server-pushed notifications, through a trait the client serves.
//!
//! ```sh
//! cargo run --example chat                 # runs a server and three scripted clients
//! ```

use std::time::Duration;

use rpc::duplex::Connections;
use rpc::{rpc, Context, ErrorObject};

/// What clients call.
#[rpc(namespace = "chat")]
pub trait Room {
    /// Posts a message to everybody in the room; returns how many received it.
    async fn say(&self, from: String, text: String, ctx: Context) -> Result<usize, ErrorObject>;
}

/// What the server pushes to each client.
#[rpc(namespace = "chat")]
pub trait Listener {
    /// Somebody said something.
    #[rpc(notification)]
    async fn said(&self, from: String, text: String);
}

struct ChatRoom;

impl Room for ChatRoom {
    async fn say(&self, from: String, text: String, ctx: Context) -> Result<usize, ErrorObject> {
        let everyone = ctx
            .get::<Connections>()
            .ok_or_else(|| ErrorObject::new(-32002, "chat needs a WebSocket connection"))?;
        everyone
            .broadcast(
                "chat.said",
                serde_json::json!({ "from": from, "text": text }),
            )
            .await
            .map_err(ErrorObject::internal_error)
    }
}

struct Printer {
    me: &'static str,
}

impl Listener for Printer {
    async fn said(&self, from: String, text: String) {
        println!("[{} sees] {from}: {text}", self.me);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listening = rpc::http::Server::new(ChatRoom.into_rpc())
        .bind("127.0.0.1:0")
        .await?;
    let url = format!("ws://{}/", listening.local_addr()?);
    tokio::spawn(listening.run());

    let mut people = Vec::new();
    for me in ["ann", "bo", "cy"] {
        let connection = rpc::ws::connect(&url, Printer { me }.into_rpc()).await?;
        people.push((me, rpc::Client::new(connection)));
    }
    for (me, client) in &people {
        let reached = client
            .say(me.to_string(), format!("hello from {me}"))
            .await?;
        println!("{me}'s message reached {reached} people");
    }
    // Let the last notifications arrive before the program ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}
