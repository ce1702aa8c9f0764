//! The `#[rpc]` attribute of the `rpc` JSON-RPC 2.0 framework.
//!
//! Built like serde_derive: the input is parsed ([`attr`]) into a small
//! model ([`model`]), checked in one place ([`check`]), and only then
//! expanded ([`expand`] for the trait and server side, [`client`] for the
//! typed client). Errors carry the span of the offending token; when there
//! are any, the trait is still emitted unchanged so the user sees the real
//! mistake and not a cascade.
//!
//! Use it through the facade crate: `use rpc::rpc;`.

use proc_macro::TokenStream;
use quote::quote;

mod attr;
mod check;
mod client;
mod ctxt;
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
    let service = model::Service::from_syn(&cx, attrs, item);
    check::check(&cx, &service);
    match cx.check() {
        Ok(()) => {
            let server = expand::server(&service);
            let client = client::client(&service);
            quote!(#server #client)
        }
        Err(e) => {
            // Emit the trait (our attributes already removed) so that code using it
            // does not fail with errors that only follow from this one.
            let item = &service.item;
            let errors = e.to_compile_error();
            quote!(#item #errors)
        }
    }
}
