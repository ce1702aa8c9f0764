//! Generates the trait (`Sync`, with `Send` futures and `into_rpc`) and the server side.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, TraitItem};

use crate::error_object;
use crate::model::{Method, Output, Service};

/// The trait, rewritten so every method's future is `Send`, plus `into_rpc`.
pub(crate) fn server(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let mut item = service.item.clone();
    // A method found wrong stays as written: rustc judges it as the user wrote it.
    for method in service.methods.iter().filter(|m| !m.broken) {
        if let Some(TraitItem::Fn(f)) = item.items.get_mut(method.item_index) {
            let ret = match &f.sig.output {
                syn::ReturnType::Default => quote!(()),
                syn::ReturnType::Type(_, ty) => quote!(#ty),
            };
            f.sig.asyncness = None;
            f.sig.output = syn::parse_quote_spanned! {user_span(&ret)=>
                -> impl ::core::future::Future<Output = #ret> + ::core::marker::Send
            };
            if let Some(body) = f.default.take() {
                f.default = Some(syn::parse_quote!({ async move #body }));
            }
        }
    }
    // Every method takes `&self` and promises a `Send` future, and a future
    // that holds `&Self` is `Send` only when `Self: Sync`. Saying so on the
    // trait lets default bodies use `self`, and tells an implementor that is
    // not `Sync` so at its `impl`, not inside each method.
    item.colon_token.get_or_insert_with(Default::default);
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sync));
    let registrations = service
        .methods
        .iter()
        .filter(|m| !m.broken)
        .map(|m| registration(service, m));
    // Handlers hold decoded values of the trait's type parameters across
    // `.await` and outlive the call that registers them.
    let type_params = service.item.generics.type_params().map(|t| &t.ident);
    let error_support = service
        .methods
        .iter()
        .any(|m| !m.broken && matches!(m.output, Output::Result { .. }))
        .then(|| error_object::support(krate));
    item.items.push(syn::parse_quote! {
        /// Turns this implementation into a method table, ready to serve
        /// (merge it with other tables first if the server offers several services).
        fn into_rpc(self) -> #krate::__private::MethodTable
        where
            Self: ::core::marker::Sized + ::core::marker::Send + 'static,
            #(#type_params: ::core::marker::Send + 'static,)*
        {
            #error_support
            let __rpc_this = ::std::sync::Arc::new(self);
            let mut __rpc_table = #krate::__private::MethodTable::new();
            #(#registrations)*
            __rpc_table.with_default_info(#krate::__private::ServiceInfo {
                title: ::core::env!("CARGO_PKG_NAME").into(),
                version: ::core::env!("CARGO_PKG_VERSION").into(),
                description: ::core::option::Option::Some(::core::env!("CARGO_PKG_DESCRIPTION").into()),
            })
        }
    });
    // A trait declared only to call a remote service (its client used, no
    // implementation here) is not dead code: it is the contract.
    item.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
    quote!(#item)
}

fn registration(service: &Service, method: &Method) -> TokenStream {
    let krate = &service.krate;
    let ident = &method.ident;
    let info = method_info(service, method);
    let names: Vec<_> = method.params.iter().map(|p| &p.name).collect();
    // Each type goes into a turbofish under its own span, so that a type that
    // is not `Deserialize` (or `Serialize`, or convertible into an error
    // object) is reported at the type in the trait, not at `#[rpc]`.
    let decodes = method.params.iter().enumerate().map(|(i, p)| {
        let (name, ty) = (&p.ident, &p.ty);
        let decode = match &p.option_of {
            Some(inner) => quote_spanned!(user_span(inner)=> optional::<#inner>),
            None => quote_spanned!(user_span(ty)=> required::<#ty>),
        };
        quote!(let #name = __rpc_params.#decode(#i)?;)
    });
    // `params_object`: the one parameter is `params` itself.
    let decode_params = match (&method.attrs.params_object, method.params.first()) {
        (Some(_), Some(p)) => {
            let (name, ty) = (&p.ident, &p.ty);
            let parse = quote_spanned!(user_span(ty)=> parse::<#ty>);
            quote!(let #name = __rpc_params.#parse()?;)
        }
        // Positional values are decoded where they stand, in one pass.
        _ => quote! {
            let mut __rpc_params = __rpc_params.decoder_in_order(&[#(#names),*])?;
            #(#decodes)*
            __rpc_params.finish()?;
        },
    };
    let args = call_args(method);
    let call = quote!(__rpc_this.#ident(#(#args),*).await);
    // A subscription answers its id, then pushes its items.
    let subscription = method.attrs.subscription.as_ref().map(|name| {
        let notification = service.wire_name(&name.value());
        let subscribe =
            quote!(#krate::__private::subscribe(&__rpc_sub_ctx, #notification, subscription));
        match &method.output {
            Output::Result { err, .. } => {
                let err_object = error_object::convert(err);
                quote! {
                    match #call {
                        ::core::result::Result::Ok(subscription) => #subscribe,
                        ::core::result::Result::Err(error) => ::core::result::Result::Err(#err_object),
                    }
                }
            }
            _ => quote!({ let subscription = #call; #subscribe }),
        }
    });
    let outcome = match &method.output {
        _ if subscription.is_some() => quote!(#subscription),
        Output::Unit => quote!({ #call; #krate::__private::to_result(&()) }),
        Output::Value(ty) => result(krate, ty, &call),
        Output::Result { ok, err, .. } => {
            let ok_result = result(krate, ok, &quote!(value));
            let err_object = error_object::convert(err);
            quote! {
                match #call {
                    ::core::result::Result::Ok(value) => #ok_result,
                    ::core::result::Result::Err(error) => ::core::result::Result::Err(#err_object),
                }
            }
        }
    };
    // A parameter written `Context` is the request context only if it is
    // the framework's: said at the type when it is another `Context`.
    let context = method.context.as_ref().map(|(_, ty)| {
        let from =
            quote_spanned!(user_span(ty)=> <#ty as #krate::__private::IsContext>::from_context);
        quote!(let __rpc_ctx = #from(__rpc_ctx);)
    });
    let sub_context = method
        .attrs
        .subscription
        .as_ref()
        .map(|_| quote!(let __rpc_sub_ctx = ::core::clone::Clone::clone(__rpc_ctx);));
    let unsubscribe = method.attrs.unsubscribe.as_ref().map(|name| {
        let wire = service.wire_name(&name.value());
        let requires = match method.requires(service) {
            Some(role) => quote!(::core::option::Option::Some(#role.into())),
            None => quote!(::core::option::Option::None),
        };
        let doc = format!(
            "Ends a subscription made with `{}`.",
            service.wire_name(&method.base_name())
        );
        quote! {
            #krate::__private::register(
                &mut __rpc_table,
                #krate::__private::MethodInfo {
                    name: #wire.into(),
                    aliases: ::std::vec::Vec::new(),
                    description: ::core::option::Option::Some(#doc.into()),
                    params: ::std::vec![#krate::__private::ParamInfo { name: "id".into(), ty: "String".into(), required: true, description: ::core::option::Option::None }],
                    result: ::core::option::Option::Some("bool".into()),
                    notification: false,
                    idempotent: true,
                    requires: #requires,
                    subscription: ::core::option::Option::None,
                    notifies: ::std::vec::Vec::new(),
                    params_object: false,
                    describe: ::core::option::Option::None,
                },
                |__rpc_params: #krate::__private::Params<'_>, __rpc_ctx: &#krate::__private::Context| {
                    let mut __rpc_params = __rpc_params.decoder(&["id"])?;
                    let id: ::std::string::String = __rpc_params.required(0)?;
                    let __rpc_ctx = ::core::clone::Clone::clone(__rpc_ctx);
                    ::core::result::Result::Ok(async move {
                        #krate::__private::to_result(&#krate::__private::unsubscribe(&__rpc_ctx, &id))
                    })
                },
            );
        }
    });
    quote! {
        #unsubscribe
        {
            let __rpc_this = ::std::sync::Arc::clone(&__rpc_this);
            #krate::__private::register(&mut __rpc_table, #info, move |__rpc_params: #krate::__private::Params<'_>, __rpc_ctx: &#krate::__private::Context| {
                #decode_params
                let __rpc_this = ::std::sync::Arc::clone(&__rpc_this);
                #sub_context
                #context
                ::core::result::Result::Ok(async move { #outcome })
            });
        }
    }
}

/// The result of `value`, a method's return value of type `ty`: moved in
/// when it is pre-serialized JSON (or a `String`, quoted in place),
/// serialized otherwise; a type that cannot be is reported at `ty`.
fn result(krate: &syn::Path, ty: &syn::Type, value: &TokenStream) -> TokenStream {
    let to_result = quote_spanned!(user_span(ty)=> to_result::<#ty>);
    quote! {{
        #[allow(unused_imports)]
        use #krate::__private::{ViaIntoResult as _, ViaSerialize as _};
        let __rpc_value = #value;
        (&&#krate::__private::result_of(&__rpc_value)).result_kind().#to_result(__rpc_value)
    }}
}

/// The arguments of the call to the user's method, context included.
fn call_args(method: &Method) -> Vec<TokenStream> {
    let mut params = method.params.iter();
    method
        .sig
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, arg)| matches!(arg, FnArg::Typed(_)))
        .filter_map(|(position, _)| {
            if method
                .context
                .as_ref()
                .is_some_and(|(at, _)| *at == position)
            {
                Some(quote!(__rpc_ctx))
            } else {
                params.next().map(|p| {
                    let ident = &p.ident;
                    quote!(#ident)
                })
            }
        })
        .collect()
}

/// The method's metadata, as a `MethodInfo` literal.
pub(crate) fn method_info(service: &Service, method: &Method) -> TokenStream {
    let krate = &service.krate;
    let name = service.wire_name(&method.base_name());
    let aliases = method
        .attrs
        .aliases
        .iter()
        .map(|a| service.wire_name(&a.value()));
    let description = match &method.docs {
        Some(d) => quote!(::core::option::Option::Some(#d.into())),
        None => quote!(::core::option::Option::None),
    };
    let params = method.params.iter().map(|p| {
        let name = &p.name;
        let ty = type_text(&p.ty);
        // `Option`s come last (checked): each may be left out.
        let required = p.option_of.is_none();
        let description = match method.docs.as_deref().and_then(|d| param_doc(d, name)) {
            Some(d) => quote!(::core::option::Option::Some(#d.into())),
            None => quote!(::core::option::Option::None),
        };
        quote!(#krate::__private::ParamInfo { name: #name.into(), ty: #ty.into(), required: #required, description: #description })
    });
    let describe = describe(service, method);
    let notifies = method.attrs.notifies.iter().map(|n| n.value());
    let result = match &method.output {
        // A subscription answers its id.
        _ if method.attrs.subscription.is_some() => {
            quote!(::core::option::Option::Some("String".into()))
        }
        Output::Unit => quote!(::core::option::Option::None),
        Output::Value(ty) | Output::Result { ok: ty, .. } => {
            let text = type_text(ty);
            quote!(::core::option::Option::Some(#text.into()))
        }
    };
    let subscription = match (&method.attrs.subscription, &method.attrs.unsubscribe) {
        (Some(notification), Some(unsubscribe)) => {
            let (notification, unsubscribe) = (
                service.wire_name(&notification.value()),
                service.wire_name(&unsubscribe.value()),
            );
            quote!(::core::option::Option::Some(#krate::__private::SubscriptionInfo {
                notification: #notification.into(),
                unsubscribe: #unsubscribe.into(),
            }))
        }
        _ => quote!(::core::option::Option::None),
    };
    let notification = method.attrs.notification.is_some();
    let idempotent = method.attrs.idempotent.is_some();
    let params_object = method.attrs.params_object.is_some();
    let requires = match method.requires(service) {
        Some(role) => quote!(::core::option::Option::Some(#role.into())),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #krate::__private::MethodInfo {
            name: #name.into(),
            aliases: ::std::vec![#(#aliases.into()),*],
            description: #description,
            params: ::std::vec![#(#params),*],
            result: #result,
            notification: #notification,
            idempotent: #idempotent,
            requires: #requires,
            subscription: #subscription,
            notifies: ::std::vec![#(#notifies.into()),*],
            params_object: #params_object,
            describe: ::core::option::Option::Some(#describe),
        }
    }
}

/// The description of parameter `name` in a method's doc comment: a line
/// `` - `name`: text `` (or `*` for `-`, `—` for `:`), and the lines
/// indented under it that carry on its text.
fn param_doc(docs: &str, name: &str) -> Option<String> {
    let tick = format!("`{name}`");
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut lines = docs.lines();
    let (bullet, first) = lines.by_ref().find_map(|line| {
        let rest = line.trim_start().strip_prefix(['-', '*'])?.trim_start();
        let rest = rest.strip_prefix(&tick)?.trim_start();
        let rest = rest
            .strip_prefix(':')
            .or_else(|| rest.strip_prefix('—'))
            .or_else(|| rest.strip_prefix('-'))?;
        Some((indent(line), rest.trim().to_owned()))
    })?;
    let mut text = first;
    for line in lines {
        let more = line.trim();
        if more.is_empty() || indent(line) <= bullet || more.starts_with(['-', '*']) {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(more);
    }
    Some(text).filter(|d| !d.is_empty())
}

/// The function that describes a method's types for discovery: each
/// parameter's schema, the result's, the errors its error type declares,
/// a subscription's item. Each `JsonSchema` requirement sits at the
/// user's own type.
fn describe(service: &Service, method: &Method) -> TokenStream {
    let p = {
        let krate = &service.krate;
        quote!(#krate::__private)
    };
    // A type's JSON Schema when it has one, else a schema saying it has
    // none: a crate whose types lack `JsonSchema` compiles whatever
    // features the rest of the build turns on.
    let of = |ty: &syn::Type, written: bool| {
        let of = if written {
            quote!(written)
        } else {
            quote!(read)
        };
        if service.no_schemas {
            quote!(__rpc_schemas.any())
        } else {
            quote! {{
                #[allow(unused_imports)]
                use #p::{ViaJsonSchema as _, ViaUndescribed as _};
                (&#p::SchemaOf::<#ty>::new()).#of(__rpc_schemas)
            }}
        }
    };
    let params = method.params.iter().map(|param| of(&param.ty, false));
    let (result, item) = match (&method.output, method.subscription_item()) {
        (_, Some(item)) => {
            let item = of(item, true);
            (
                quote!(::core::option::Option::Some(__rpc_schemas.of_string())),
                quote!(::core::option::Option::Some(#item)),
            )
        }
        (Output::Unit, None) => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
        (Output::Value(ty) | Output::Result { ok: ty, .. }, None) => {
            let result = of(ty, true);
            (
                quote!(::core::option::Option::Some(#result)),
                quote!(::core::option::Option::None),
            )
        }
    };
    let errors = match &method.output {
        Output::Result { err, .. } => quote! {{
            #[allow(unused_imports)]
            use #p::{ViaDeclared as _, ViaNothing as _};
            (&#p::ErrorsOf::<#err>::new()).errors(__rpc_schemas)
        }},
        _ => quote!(::std::vec::Vec::new()),
    };
    quote! {
        #p::Describe(|__rpc_schemas: &mut #p::Schemas| #p::MethodSchemas {
            params: ::std::vec![#(#params),*],
            result: #result,
            errors: #errors,
            item: #item,
        })
    }
}

/// A type as a person writes it: `Option<Vec<String>>`, not `Option < Vec < String > >`.
pub(crate) fn type_text(ty: &syn::Type) -> String {
    let raw = quote!(#ty).to_string();
    let mut out = String::with_capacity(raw.len());
    for token in raw.split(' ') {
        let glue = matches!(token, "<" | ">" | "::" | "," | ")" | "]" | ";")
            || out.ends_with(['<', ':', '(', '[', '&'])
            || out.is_empty();
        if !glue {
            out.push(' ');
        }
        out.push_str(token);
        if token == "," || token == ";" {
            out.push(' ');
        }
    }
    out.replace(", >", ">").replace("  ", " ")
}

/// A span located at `tokens` (the user's type) that resolves names like
/// the rest of the generated code, so errors point at the type while
/// generated locals such as `self` and `__rpc_params` stay in scope.
pub(crate) fn user_span<T: ToTokens>(tokens: &T) -> Span {
    Span::call_site().located_at(tokens.span())
}

/// The name of a generated item: `<Trait><suffix>`.
pub(crate) fn derived_ident(service: &Service, suffix: &str) -> syn::Ident {
    format_ident!("{}{}", service.item.ident, suffix)
}

#[cfg(test)]
mod tests {
    use super::param_doc;

    #[test]
    fn a_param_description_carries_on_over_the_lines_indented_under_it() {
        let docs = " Subscribes.\n\n - `topic`: its name\n - `since`: an event id: first every\n   retained message after it,\n   then live ones\n - `other`: x\n\n More text.";
        assert_eq!(param_doc(docs, "topic").as_deref(), Some("its name"));
        assert_eq!(
            param_doc(docs, "since").as_deref(),
            Some("an event id: first every retained message after it, then live ones")
        );
        assert_eq!(param_doc(docs, "other").as_deref(), Some("x"));
        assert_eq!(param_doc(docs, "missing"), None);
    }
}
