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
mod model;

/// Turns a trait into a JSON-RPC service: a method table for the server
/// (`.into_rpc()`) and a typed client (`<Trait>Client`).
///
/// See the `rpc` crate's documentation for the options and an example.
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
