//! The path of the facade crate `rpc` as the user's crate names it.

use proc_macro_crate::FoundCrate;

/// `::rpc`, or `::jrpc` when the user's Cargo.toml says
/// `jrpc = { package = "rpc", .. }`. `#[rpc(crate = "...")]` overrides it.
pub(crate) fn path() -> syn::Path {
    match proc_macro_crate::crate_name("rpc") {
        Ok(FoundCrate::Name(name)) => match syn::parse_str::<syn::Ident>(&name) {
            Ok(ident) => syn::parse_quote!(::#ident),
            Err(_) => syn::parse_quote!(::rpc),
        },
        // `Itself`: the facade's own tests, examples and doctests, which
        // name it `rpc` (the facade itself uses no `#[rpc]`). Not found: a
        // crate that reaches `rpc` through another names it with `crate = `.
        Ok(FoundCrate::Itself) | Err(_) => syn::parse_quote!(::rpc),
    }
}
