//! The `#[rpc]` attribute of the `rpc` JSON-RPC 2.0 framework.
//!
//! Built like serde_derive: the input is parsed (`attr`) into a small
//! model (`model`), checked in one place (`check`), and
//! expanded (`expand` for the trait and server side, `client` for the
//! typed client). Errors carry the span of the offending token; when there
//! are any, the trait, `into_rpc` and the client are still emitted (without
//! the methods found wrong) so the user sees the real mistake and not a
//! cascade.
//!
//! Use it through the facade crate: `use rpc::rpc;`.

use proc_macro::TokenStream;
use quote::quote;

mod attr;
mod check;
mod client;
mod ctxt;
mod error;
mod error_object;
mod expand;
mod facade;
mod model;

/// Turns a trait into a JSON-RPC service: a method table for the server
/// (`.into_rpc()`) and a typed client (`<Trait>Client`).
///
/// See the `rpc` crate's documentation for the options and an example.
///
/// # Errors a method returns
///
/// A method that returns `Result<T, E>` answers its caller, when it fails,
/// with an error object chosen by `E`:
///
/// - `E: Into<ErrorObject>` (`ErrorObject` itself, an enum with
///   `#[derive(RpcError)]`, your own `From` impl): that mapping, with its
///   codes and data;
/// - otherwise, any `E: std::error::Error` (an `std::io::Error`, a
///   `thiserror` type), and `anyhow::Error`, `eyre::Report` or
///   `Box<dyn Error + Send + Sync>` (which hold one): -32603 with the message
///   `Internal error: ` followed by the error's `Display` text and that of
///   each of its sources, joined by `": "` (a source whose text is already
///   in the message is not repeated). No feature to turn on.
///
/// That text reaches the caller: when it may hold what callers must not see
/// (paths, queries), map the error to a type of your own first. Any other
/// `E` is a compile error at the type.
///
/// ```
/// # use jrpc as rpc;
/// use rpc::{rpc, InProcess};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot open the ledger")]
/// pub struct LedgerError(#[source] std::io::Error);
///
/// #[rpc]
/// pub trait Ledger {
///     async fn open(&self) -> Result<u64, LedgerError>;
/// }
///
/// struct Books;
///
/// impl Ledger for Books {
///     async fn open(&self) -> Result<u64, LedgerError> {
///         Err(LedgerError(std::io::Error::other("permission denied")))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let client = rpc::Client::new(InProcess::new(Books.into_rpc()));
/// let error = client.open().await.unwrap_err();
/// let object = error.error_object().unwrap();
/// assert_eq!(object.code, rpc::code::INTERNAL_ERROR);
/// assert_eq!(object.message, "Internal error: cannot open the ledger: permission denied");
/// # });
/// ```
///
/// # Generic traits
///
/// A trait may take type parameters (with bounds and a `where` clause): each
/// implementation serves its concrete types, with their schemas in the
/// OpenRPC document, and the client takes the same parameters
/// (`StoreClient<String>`). The bounds say what the types need:
/// `Serialize + DeserializeOwned + Send + Sync + 'static`, and `JsonSchema`
/// for their schemas (without it the document describes them as any value).
/// Lifetime and const parameters are refused.
///
/// # The crate's name
///
/// The generated code names the facade as your Cargo.toml does: with
/// `jrpc = { package = "rpc", .. }` it writes `::jrpc`. When you reach it
/// through another crate's re-export, say where: `#[rpc(crate = "::app::rpc")]`
/// (also on `#[derive(RpcError)]`).
#[proc_macro_attribute]
pub fn rpc(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_rpc(args.into(), input.into()).into()
}

fn expand_rpc(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item = match syn::parse2::<syn::ItemTrait>(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error =
                syn::Error::new_spanned(&input, "#[rpc] applies to a trait").to_compile_error();
            return quote!(#input #error);
        }
    };
    let cx = ctxt::Ctxt::default();
    let attrs = attr::trait_attrs(&cx, args);
    let mut service = model::Service::from_syn(&cx, attrs, item);
    check::check(&cx, &mut service);
    // Even with errors, the trait, `into_rpc` and the client are emitted
    // (without the methods found wrong), so that code using them does not
    // fail with errors that only follow from these.
    let server = expand::server(&service);
    let client = client::client(&service);
    let errors = cx.check().err().map(|e| e.to_compile_error());
    quote!(#server #client #errors)
}

/// Converts an error enum into a JSON-RPC error object and back: each
/// variant names its code with `#[rpc(code = ...)]`, the message is the
/// enum's `Display` text; `#[rpc(data)]` on a variant with fields carries
/// them in the object's `data` (they must be serde types) so the client
/// rebuilds the variant. Unit variants come back by their code alone.
///
/// See the `rpc` crate's documentation for an example.
#[proc_macro_derive(RpcError, attributes(rpc))]
pub fn derive_rpc_error(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => error::derive(input).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
