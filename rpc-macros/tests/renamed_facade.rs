//! A user's Cargo.toml may give the facade another name: these tests depend
//! on it as `jrpc = { package = "rpc", .. }` and write no `crate = "..."`.
//! Also: `anyhow::Error` as a method's error type, with no feature to turn on.

use anyhow::Context as _;
use jrpc::{rpc, InProcess};

#[derive(Debug, PartialEq, thiserror::Error, jrpc::RpcError)]
pub enum ShelfError {
    #[error("the shelf is empty")]
    #[rpc(code = -32030)]
    Empty,
}

#[rpc(namespace = "shelf")]
pub trait Shelf {
    /// Echoes `text`.
    async fn echo(&self, text: String) -> String;
    /// Fails with the service's own error type.
    async fn take(&self) -> Result<u32, ShelfError>;
    /// Fails with an `anyhow::Error` carrying context.
    async fn load(&self, path: String) -> Result<u32, anyhow::Error>;
    /// The same, written as anyhow users write it.
    async fn count(&self, path: String) -> anyhow::Result<u32>;
    /// And with std's alias.
    async fn size(&self, path: String) -> std::io::Result<u64>;
}

struct Wood;

impl Shelf for Wood {
    async fn echo(&self, text: String) -> String {
        text
    }
    async fn take(&self) -> Result<u32, ShelfError> {
        Err(ShelfError::Empty)
    }
    async fn load(&self, path: String) -> Result<u32, anyhow::Error> {
        let count: u32 = path.parse().context("the path is not a count")?;
        Err(anyhow::anyhow!("{count} planks, all warped")).context(format!("loading {path}"))
    }
    async fn count(&self, path: String) -> anyhow::Result<u32> {
        path.parse().context("not a count")
    }
    async fn size(&self, path: String) -> std::io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }
}

fn client() -> jrpc::Client {
    jrpc::Client::new(InProcess::new(Wood.into_rpc()))
}

#[tokio::test]
async fn rpc_finds_the_facade_under_its_renamed_name() {
    let client = client();
    assert_eq!(client.echo("oak".into()).await.unwrap(), "oak");
    let err = client.take().await.unwrap_err();
    assert_eq!(err.application::<ShelfError>().unwrap(), ShelfError::Empty);
}

#[tokio::test]
async fn anyhow_errors_answer_internal_error_with_their_context_chain() {
    let client = client();
    let err = client.load("3".into()).await.unwrap_err();
    let object = err.error_object().expect("a JSON-RPC error");
    assert_eq!(object.code, jrpc::code::INTERNAL_ERROR);
    assert_eq!(
        object.message,
        "Internal error: loading 3: 3 planks, all warped"
    );
    let err = client.load("x".into()).await.unwrap_err();
    assert_eq!(
        err.error_object().unwrap().message,
        "Internal error: the path is not a count: invalid digit found in string"
    );
}

#[tokio::test]
async fn result_aliases_are_fallible_methods() {
    let client = client();
    assert_eq!(client.count("7".into()).await.unwrap(), 7);
    let err = client.count("seven".into()).await.unwrap_err();
    let object = err.error_object().expect("a JSON-RPC error");
    assert_eq!(object.code, jrpc::code::INTERNAL_ERROR);
    assert!(
        object.message.starts_with("Internal error: not a count"),
        "{}",
        object.message
    );
    let err = client.size("/no/such/file".into()).await.unwrap_err();
    assert_eq!(err.error_object().unwrap().code, jrpc::code::INTERNAL_ERROR);
}
