//! How a method's error value becomes the error object the caller gets.
//!
//! Chosen by the error type, most specific first (autoref specialization:
//! the method call below finds the impl with the most `&`s that applies):
//!
//! 1. `E: Into<ErrorObject>`: the type's own mapping (`#[derive(RpcError)]`,
//!    `ErrorObject` itself, a hand-written `From`);
//! 2. `E: std::error::Error`: -32603 with its text and its sources' text
//!    (`ErrorObject::from_error`);
//! 3. `E: AsRef<dyn Error + Send + Sync>` (`anyhow::Error`, `eyre::Report`,
//!    `Box<dyn Error + Send + Sync>`): the same, from the error it holds;
//! 4. anything else: a compile error at the type, saying what to implement.
//!
//! The support items are declared once in the body of the generated
//! `into_rpc` (nothing for the user to import, nothing in their namespace).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::expand::user_span;

/// The items the conversions below use, declared in `into_rpc`'s body.
pub(crate) fn support(krate: &syn::Path) -> TokenStream {
    let p = quote!(#krate::__private);
    quote! {
        struct __RpcErrorTag<E>(::core::marker::PhantomData<E>);
        fn __rpc_error_tag<E>(_: &E) -> __RpcErrorTag<E> {
            __RpcErrorTag(::core::marker::PhantomData)
        }
        struct __RpcOwnMapping;
        struct __RpcStdError;
        struct __RpcHeldError;
        struct __RpcNotAnError;
        trait __RpcViaOwnMapping {
            fn __rpc_error_kind(&self) -> __RpcOwnMapping {
                __RpcOwnMapping
            }
        }
        impl<E: ::core::convert::Into<#p::ErrorObject>> __RpcViaOwnMapping for &&&__RpcErrorTag<E> {}
        trait __RpcViaStdError {
            fn __rpc_error_kind(&self) -> __RpcStdError {
                __RpcStdError
            }
        }
        impl<E: ::std::error::Error> __RpcViaStdError for &&__RpcErrorTag<E> {}
        trait __RpcViaHeldError {
            fn __rpc_error_kind(&self) -> __RpcHeldError {
                __RpcHeldError
            }
        }
        impl<E> __RpcViaHeldError for &__RpcErrorTag<E>
        where
            E: ::core::convert::AsRef<dyn ::std::error::Error + ::core::marker::Send + ::core::marker::Sync + 'static>,
        {}
        trait __RpcViaNothing {
            fn __rpc_error_kind(&self) -> __RpcNotAnError {
                __RpcNotAnError
            }
        }
        impl<E> __RpcViaNothing for __RpcErrorTag<E> {}
        impl __RpcOwnMapping {
            fn convert<E: ::core::convert::Into<#p::ErrorObject>>(self, error: E) -> #p::ErrorObject {
                error.into()
            }
        }
        impl __RpcStdError {
            fn convert<E: ::std::error::Error>(self, error: E) -> #p::ErrorObject {
                #p::ErrorObject::from_error(&error)
            }
        }
        impl __RpcHeldError {
            fn convert<E>(self, error: E) -> #p::ErrorObject
            where
                E: ::core::convert::AsRef<dyn ::std::error::Error + ::core::marker::Send + ::core::marker::Sync + 'static>,
            {
                #p::ErrorObject::from_error(error.as_ref())
            }
        }
        #[diagnostic::on_unimplemented(
            message = "`{Self}` cannot be the error type of an #[rpc] method",
            label = "neither `Into<ErrorObject>` nor `std::error::Error`",
            note = "derive `rpc::RpcError` (with `thiserror::Error`) to choose each error's code, or implement `std::error::Error` to answer -32603 \"Internal error\" with its text"
        )]
        trait __RpcErrorType {
            fn __rpc_error_object(self) -> #p::ErrorObject;
        }
        // Never met here (an earlier kind would have been chosen); it makes
        // rustc explain the refusal by the missing `std::error::Error`.
        impl<E: ::std::error::Error> __RpcErrorType for E {
            fn __rpc_error_object(self) -> #p::ErrorObject {
                #p::ErrorObject::from_error(&self)
            }
        }
        impl __RpcNotAnError {
            fn convert<E: __RpcErrorType>(self, error: E) -> #p::ErrorObject {
                error.__rpc_error_object()
            }
        }
    }
}

/// The error object for the value `error` of the method's error type `err`;
/// a type that cannot be one is reported at `err`.
pub(crate) fn convert(err: &syn::Type) -> TokenStream {
    quote_spanned! {user_span(err)=>
        {
            let __rpc_error: #err = error;
            (&&&&__rpc_error_tag(&__rpc_error)).__rpc_error_kind().convert(__rpc_error)
        }
    }
}
