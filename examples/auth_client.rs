//! A client that sends an `Authorization` header, and a server method that
//! checks it through the request context.
//!
//! ```sh
//! cargo run --example auth_client
//! ```

use std::time::Duration;

use rpc::http::{Credentials, HeaderMap, HttpClient};
use rpc::{rpc, Context, ErrorObject};

/// A service that needs a bearer token.
#[rpc]
pub trait Vault {
    /// Returns the secret to callers with the right token.
    async fn secret(&self, ctx: Context) -> Result<String, ErrorObject>;
}

struct Guarded {
    token: String,
}

impl Vault for Guarded {
    async fn secret(&self, ctx: Context) -> Result<String, ErrorObject> {
        // `is_bearer` compares in constant time: `==` would tell, by how
        // long it takes, how much of a guess was right.
        let presented = ctx.get::<HeaderMap>().and_then(Credentials::from_headers);
        match presented {
            Some(credentials) if credentials.is_bearer(&self.token) => {
                Ok("the cake is a lie".into())
            }
            _ => Err(ErrorObject::new(-32010, "Unauthorized")),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = rpc::http::Server::new(
        Guarded {
            token: "s3cret".into(),
        }
        .into_rpc(),
    );
    let listening = server.bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listening.local_addr()?);
    tokio::spawn(listening.run());

    let anonymous = rpc::Client::new(HttpClient::new(&url)?);
    match anonymous.secret().await {
        Err(e) => println!("without a token: {e}"),
        Ok(s) => println!("unexpected: {s}"),
    }

    let http = HttpClient::new(&url)?.with_header("authorization", "Bearer s3cret")?;
    let client = rpc::Client::new(http).with_timeout(Duration::from_secs(5));
    println!("with the token: {}", client.secret().await?);
    Ok(())
}
