//! `#[derive(RpcError)]`: an application error enum converts into an error
//! object (code per variant, message from `Display`) and back.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Meta, Token};

use crate::ctxt::Ctxt;

/// One variant's options.
struct Variant<'a> {
    variant: &'a syn::Variant,
    code: Expr,
    /// Its fields travel in the error object's `data`.
    data: bool,
}

pub(crate) fn derive(input: DeriveInput) -> TokenStream {
    let cx = Ctxt::default();
    let mut krate: Option<syn::Path> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("rpc")) {
        let parsed =
            attr.parse_args_with(syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated);
        match parsed {
            Ok(metas) => {
                for meta in metas {
                    match &meta {
                        Meta::NameValue(nv) if nv.path.is_ident("crate") => match &nv.value {
                            Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Str(s),
                                ..
                            }) => match s.parse() {
                                Ok(path) => krate = Some(path),
                                Err(e) => cx.syn_error(e),
                            },
                            other => cx.error_spanned_by(
                                other,
                                "`crate` expects a string, e.g. `crate = \"::rpc\"`",
                            ),
                        },
                        other => cx.error_spanned_by(
                            other,
                            "unknown option; on the enum only `crate = \"...\"` is accepted",
                        ),
                    }
                }
            }
            Err(e) => cx.syn_error(e),
        }
    }
    let Data::Enum(data) = &input.data else {
        cx.error_spanned_by(
            &input.ident,
            "#[derive(RpcError)] applies to an enum whose variants are the errors",
        );
        return cx
            .check()
            .err()
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
    };
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            "#[derive(RpcError)] does not support generic enums",
        );
    }
    let variants: Vec<Variant<'_>> = data
        .variants
        .iter()
        .filter_map(|v| variant(&cx, v))
        .collect();
    if let Err(e) = cx.check() {
        return e.to_compile_error();
    }
    let krate = krate.unwrap_or_else(crate::facade::path);
    expand(&input.ident, &krate, &variants)
}

fn variant<'a>(cx: &Ctxt, variant: &'a syn::Variant) -> Option<Variant<'a>> {
    let mut code = None;
    let mut data = false;
    for attr in variant.attrs.iter().filter(|a| a.path().is_ident("rpc")) {
        let metas = match attr
            .parse_args_with(syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated)
        {
            Ok(metas) => metas,
            Err(e) => {
                cx.syn_error(e);
                continue;
            }
        };
        for meta in metas {
            match meta {
                Meta::NameValue(nv) if nv.path.is_ident("code") => code = Some(nv.value),
                Meta::Path(p) if p.is_ident("data") => {
                    if matches!(variant.fields, Fields::Unit) {
                        cx.error_spanned_by(
                            &p,
                            "`data` carries a variant's fields; this variant has none",
                        );
                    }
                    data = true;
                }
                other => cx.error_spanned_by(
                    &other,
                    "unknown option; expected `code = <integer>` and optionally `data`",
                ),
            }
        }
    }
    match code {
        Some(code) => Some(Variant {
            variant,
            code,
            data,
        }),
        None => {
            cx.error_spanned_by(
                &variant.ident,
                "each variant needs its JSON-RPC error code: `#[rpc(code = -32000)]`",
            );
            None
        }
    }
}

/// The schema of a variant's `data`, as its serde twin writes it: an object
/// of named fields, the one field of a newtype variant, an array of several.
/// A field type without a JSON Schema is described as undescribed, not
/// refused (schemas stay additive).
fn data_schema(p: &TokenStream, fields: &Fields) -> TokenStream {
    let of = |ty: &syn::Type| {
        quote! {{
            #[allow(unused_imports)]
            use #p::{ViaJsonSchema as _, ViaUndescribed as _};
            (&#p::SchemaOf::<#ty>::new()).written(__rpc_schemas)
        }}
    };
    match fields {
        Fields::Named(named) => {
            let names: Vec<String> = named
                .named
                .iter()
                .filter_map(|f| f.ident.as_ref().map(|i| i.unraw().to_string()))
                .collect();
            let schemas = named.named.iter().map(|f| of(&f.ty));
            quote! {{
                let mut __rpc_properties = #p::serde_json::Map::new();
                #(__rpc_properties.insert(::std::string::String::from(#names), #schemas);)*
                let mut __rpc_schema = #p::serde_json::Map::new();
                __rpc_schema.insert("type".into(), "object".into());
                __rpc_schema.insert("properties".into(), __rpc_properties.into());
                __rpc_schema.insert(
                    "required".into(),
                    ::std::vec![#(#p::serde_json::Value::from(#names)),*].into(),
                );
                #p::serde_json::Value::Object(__rpc_schema)
            }}
        }
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => of(&unnamed.unnamed[0].ty),
        Fields::Unnamed(unnamed) => {
            let count = unnamed.unnamed.len();
            let schemas = unnamed.unnamed.iter().map(|f| of(&f.ty));
            quote! {{
                let mut __rpc_schema = #p::serde_json::Map::new();
                __rpc_schema.insert("type".into(), "array".into());
                __rpc_schema.insert(
                    "prefixItems".into(),
                    ::std::vec![#(#schemas),*].into(),
                );
                __rpc_schema.insert("minItems".into(), #count.into());
                __rpc_schema.insert("maxItems".into(), #count.into());
                #p::serde_json::Value::Object(__rpc_schema)
            }}
        }
        Fields::Unit => quote!(#p::serde_json::Value::Null),
    }
}

fn expand(ident: &syn::Ident, krate: &syn::Path, variants: &[Variant<'_>]) -> TokenStream {
    let p = quote!(#krate::__private);
    let mut data_types = Vec::new();
    let mut into_arms = Vec::new();
    let mut back = Vec::new();
    let mut declared = Vec::new();
    for v in variants {
        let name = &v.variant.ident;
        let code = &v.code;
        let code = quote_spanned!(code.span()=> { let code: i64 = #code; code });
        let message = declared_message(v.variant);
        let data = if v.data {
            let data = data_schema(&p, &v.variant.fields);
            quote!(::core::option::Option::Some(#data))
        } else {
            quote!(::core::option::Option::None)
        };
        declared.push(quote!(#p::ErrorInfo { code: #code, message: #message.into(), data: #data }));
        let names: Vec<syn::Ident> = match &v.variant.fields {
            Fields::Named(f) => f.named.iter().filter_map(|f| f.ident.clone()).collect(),
            Fields::Unnamed(f) => (0..f.unnamed.len())
                .map(|i| format_ident!("__rpc_{i}"))
                .collect(),
            Fields::Unit => Vec::new(),
        };
        let pattern = match &v.variant.fields {
            Fields::Named(_) => quote!(#ident::#name { #(#names),* }),
            Fields::Unnamed(_) => quote!(#ident::#name(#(#names),*)),
            Fields::Unit => quote!(#ident::#name),
        };
        let ignored = match &v.variant.fields {
            Fields::Named(_) => quote!(#ident::#name { .. }),
            Fields::Unnamed(_) => quote!(#ident::#name(..)),
            Fields::Unit => quote!(#ident::#name),
        };
        if v.data {
            // A serde twin of the variant's fields carries them in `data`.
            let twin = format_ident!("__RpcData{}{}", ident, name);
            let types = v.variant.fields.iter().map(|f| &f.ty);
            let serde_path = format!(
                "{}::__private::serde",
                quote!(#krate).to_string().replace(' ', "")
            );
            let body = match &v.variant.fields {
                Fields::Named(_) => quote!({ #(#names: #types),* }),
                _ => quote!((#(#types),*);),
            };
            data_types.push(quote! {
                #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
                #[serde(crate = #serde_path)]
                struct #twin #body
            });
            let build = match &v.variant.fields {
                Fields::Named(_) => quote!(#twin { #(#names),* }),
                _ => quote!(#twin(#(#names),*)),
            };
            into_arms.push(quote! {
                #pattern => {
                    let __rpc_error = #p::ErrorObject::new(#code, __rpc_message);
                    match #p::serde_json::to_value(#build) {
                        ::core::result::Result::Ok(data) => __rpc_error.with_data(data),
                        ::core::result::Result::Err(_) => __rpc_error,
                    }
                }
            });
            back.push(quote! {
                if __rpc_object.code == #code {
                    if let ::core::option::Option::Some(data) = &__rpc_object.data {
                        if let ::core::result::Result::Ok(#build) = <#twin as #p::serde::Deserialize>::deserialize(data) {
                            return ::core::result::Result::Ok(#pattern);
                        }
                    }
                }
            });
        } else {
            into_arms.push(quote!(#ignored => #p::ErrorObject::new(#code, __rpc_message),));
            if matches!(v.variant.fields, Fields::Unit) {
                back.push(quote! {
                    if __rpc_object.code == #code {
                        return ::core::result::Result::Ok(#ident::#name);
                    }
                });
            }
        }
    }
    // The message comes from `Display`: said at the enum when it has none.
    let message = quote_spanned!(ident.span()=> <#ident as __RpcMessage>::__rpc_message(&error));
    // Under the enum's own span, so that rustc does not take the blanket
    // impl for one the derive wrote about a type parameter.
    let display_impl = quote_spanned! {ident.span()=>
        impl<T: ::core::fmt::Display + ?::core::marker::Sized> __RpcMessage for T {
            fn __rpc_message(&self) -> ::std::string::String {
                ::std::string::ToString::to_string(self)
            }
        }
    };
    quote! {
        const _: () = {
            #(#data_types)*

            #[diagnostic::on_unimplemented(
                message = "`{Self}` needs `Display`: #[derive(RpcError)] takes each error object's message from it",
                label = "this enum does not implement `std::fmt::Display`",
                note = "derive `thiserror::Error` with an `#[error(\"...\")]` on each variant, or implement `std::fmt::Display`"
            )]
            trait __RpcMessage {
                fn __rpc_message(&self) -> ::std::string::String;
            }

            #display_impl

            impl ::core::convert::From<#ident> for #p::ErrorObject {
                fn from(error: #ident) -> Self {
                    let __rpc_message = #message;
                    match error {
                        #(#into_arms)*
                    }
                }
            }

            impl #p::DeclaredErrors for #ident {
                fn declared(__rpc_schemas: &mut #p::Schemas) -> ::std::vec::Vec<#p::ErrorInfo> {
                    ::std::vec![#(#declared),*]
                }
            }

            impl ::core::convert::TryFrom<#p::ErrorObject> for #ident {
                type Error = #p::ErrorObject;

                fn try_from(__rpc_object: #p::ErrorObject) -> ::core::result::Result<Self, #p::ErrorObject> {
                    #(#back)*
                    ::core::result::Result::Err(__rpc_object)
                }
            }
        };
    }
}

/// What discovery says a variant means: its `#[error("...")]` text (the
/// `Display` template, placeholders and all: "out of {item}") when it says
/// more than its placeholders; else the first line of its doc comment;
/// else its name in words (`DivisionByZero`: "Division by zero").
fn declared_message(variant: &syn::Variant) -> String {
    let template = variant
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("error"))
        .find_map(|a| a.parse_args::<syn::LitStr>().ok())
        .map(|s| s.value().replace("{{", "\u{1}").replace("}}", "\u{2}"))
        .filter(|t| says_more_than_placeholders(t))
        .map(|t| t.replace('\u{1}', "{").replace('\u{2}', "}"));
    let documented = || {
        variant
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .find_map(|a| match &a.meta {
                syn::Meta::NameValue(nv) => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => Some(s.value().trim().to_owned()),
                    _ => None,
                },
                _ => None,
            })
            .filter(|line| !line.is_empty())
    };
    template.or_else(documented).unwrap_or_else(|| {
        let mut words = String::new();
        for (i, c) in variant.ident.to_string().chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                words.push(' ');
                words.extend(c.to_lowercase());
            } else {
                words.push(c);
            }
        }
        words
    })
}

/// Whether a format template has text of its own beside its `{...}`
/// placeholders (`"{0}"` has none).
fn says_more_than_placeholders(template: &str) -> bool {
    let mut depth = 0usize;
    template.chars().any(|c| match c {
        '{' => {
            depth += 1;
            false
        }
        '}' => {
            depth = depth.saturating_sub(1);
            false
        }
        c => depth == 0 && c.is_alphanumeric(),
    })
}
