//! The macro's own model of an `#[rpc]` trait, built from syn's syntax tree.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{
    FnArg, GenericArgument, ItemTrait, LitStr, Pat, PathArguments, ReturnType, TraitItem, Type,
};

use crate::attr::{self, MethodAttrs, TraitAttrs};
use crate::ctxt::Ctxt;

/// The annotated trait.
pub(crate) struct Service {
    /// The trait as written, minus our attributes (kept for re-emission).
    pub item: ItemTrait,
    /// Path of the runtime crate.
    pub krate: syn::Path,
    /// `namespace = "..."`, if given.
    pub namespace: Option<LitStr>,
    /// `requires = "..."` on the trait: the role every method requires.
    pub requires: Option<LitStr>,
    /// `schemas = false` on the trait.
    pub no_schemas: bool,
    /// The methods, in declaration order.
    pub methods: Vec<Method>,
}

/// One trait method.
pub(crate) struct Method {
    /// The Rust name.
    pub ident: syn::Ident,
    /// Its position among the trait's items.
    pub item_index: usize,
    /// The doc comment.
    pub docs: Option<String>,
    /// Options from `#[rpc(...)]`.
    pub attrs: MethodAttrs,
    /// Wire parameters (the context parameter excluded).
    pub params: Vec<Param>,
    /// Where the context parameter sits among the Rust arguments, and its
    /// type, if there is one.
    pub context: Option<(usize, Type)>,
    /// What the method returns.
    pub output: Output,
    /// The `async` keyword, if present.
    pub asyncness: Option<syn::token::Async>,
    /// The receiver, if any.
    pub receiver: Option<syn::Receiver>,
    /// The whole signature, for spans.
    pub sig: syn::Signature,
    /// Something about this method was reported: it gets no generated code
    /// (the rest of the service still does, so no error follows from it).
    pub broken: bool,
}

/// One wire parameter.
pub(crate) struct Param {
    /// The parameter's Rust name.
    pub ident: syn::Ident,
    /// Its wire name (the Rust name without any `r#`).
    pub name: String,
    /// Its declared type.
    pub ty: Type,
    /// `Some(T)` when the type is `Option<T>`.
    pub option_of: Option<Type>,
}

/// What a method returns.
// A handful exist per expansion; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Output {
    /// Nothing (`()`).
    Unit,
    /// A plain value.
    Value(Type),
    /// `Result<T, E>`.
    Result { ok: Type, err: Type, whole: Type },
}

impl Method {
    /// `T` when the method is a subscription returning `Subscription<T>`
    /// (or `Result<Subscription<T>, E>`).
    pub(crate) fn subscription_item(&self) -> Option<&Type> {
        let ty = match &self.output {
            Output::Value(ty) | Output::Result { ok: ty, .. } => ty,
            Output::Unit => return None,
        };
        generic_args(ty, "Subscription").and_then(|args| match args.as_slice() {
            [one] => Some(*one),
            _ => None,
        })
    }

    /// The role a caller needs: the method's own, else the trait's.
    pub(crate) fn requires<'s>(&'s self, service: &'s Service) -> Option<&'s LitStr> {
        self.attrs.requires.as_ref().or(service.requires.as_ref())
    }

    /// The wire name without the namespace.
    pub(crate) fn base_name(&self) -> String {
        self.attrs
            .name
            .as_ref()
            .map_or_else(|| self.ident.unraw().to_string(), LitStr::value)
    }

    /// The span to blame for the wire name.
    pub(crate) fn name_span(&self) -> Span {
        self.attrs
            .name
            .as_ref()
            .map_or_else(|| self.ident.span(), LitStr::span)
    }
}

impl Service {
    /// Builds the model; structural problems go to `cx`.
    pub(crate) fn from_syn(cx: &Ctxt, attrs: TraitAttrs, mut item: ItemTrait) -> Service {
        let krate = attrs.krate.unwrap_or_else(crate::facade::path);
        let mut methods = Vec::new();
        for (item_index, trait_item) in item.items.iter_mut().enumerate() {
            match trait_item {
                TraitItem::Fn(f) => {
                    let errors = cx.len();
                    let method_attrs = attr::method_attrs(cx, &mut f.attrs);
                    let mut method = Method::from_sig(cx, &krate, item_index, attr::docs(&f.attrs), method_attrs, &f.sig);
                    method.broken = cx.len() > errors;
                    if f.default.is_none() {
                        // The pattern was reported above; `_` keeps the re-emitted trait
                        // valid so rustc does not report it a second time (E0642).
                        for arg in &mut f.sig.inputs {
                            if let FnArg::Typed(pt) = arg {
                                if !is_plain_name(&pt.pat) {
                                    *pt.pat = syn::parse_quote!(_);
                                }
                            }
                        }
                    }
                    methods.push(method);
                }
                TraitItem::Type(t) => cx.error_spanned_by(
                    t,
                    "#[rpc] traits cannot have associated types; use concrete types in the method signatures",
                ),
                TraitItem::Const(c) => cx.error_spanned_by(
                    c,
                    "#[rpc] traits cannot have associated consts; use a constant outside the trait",
                ),
                other => cx.error_spanned_by(other, "#[rpc] traits can only contain `async fn` methods"),
            }
        }
        Service {
            krate,
            namespace: attrs.namespace,
            requires: attrs.requires,
            no_schemas: attrs.no_schemas,
            item,
            methods,
        }
    }

    /// The wire name of `method`, with the namespace.
    pub(crate) fn wire_name(&self, base: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{}.{base}", ns.value()),
            None => base.to_owned(),
        }
    }
}

impl Method {
    fn from_sig(
        cx: &Ctxt,
        krate: &syn::Path,
        item_index: usize,
        docs: Option<String>,
        attrs: MethodAttrs,
        sig: &syn::Signature,
    ) -> Method {
        let mut receiver = None;
        let mut params = Vec::new();
        let mut context = None;
        for (position, arg) in sig.inputs.iter().enumerate() {
            match arg {
                FnArg::Receiver(r) => receiver = Some(r.clone()),
                FnArg::Typed(pt) => {
                    if is_context(&pt.ty, krate) {
                        if context.is_some() {
                            cx.error_spanned_by(
                                &pt.ty,
                                "#[rpc] methods take at most one `Context` parameter",
                            );
                        }
                        context = Some((position, (*pt.ty).clone()));
                        continue;
                    }
                    let ident = match &*pt.pat {
                        Pat::Ident(pi) if is_plain_name(&pt.pat) => pi.ident.clone(),
                        other => {
                            cx.error_spanned_by(
                                other,
                                "#[rpc] parameters must be plain names (`name: Type`); the name is the parameter's wire name",
                            );
                            continue;
                        }
                    };
                    params.push(Param {
                        option_of: option_inner(&pt.ty).cloned(),
                        name: ident.unraw().to_string(),
                        ident,
                        ty: (*pt.ty).clone(),
                    });
                }
            }
        }
        Method {
            ident: sig.ident.clone(),
            item_index,
            docs,
            attrs,
            params,
            context,
            output: output(&sig.output, krate),
            asyncness: sig.asyncness,
            receiver,
            sig: sig.clone(),
            broken: false,
        }
    }
}

/// `name` or `mut name`: a parameter whose name can be its wire name.
fn is_plain_name(pat: &Pat) -> bool {
    matches!(pat, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none())
}

/// The request context, not a wire parameter: `Context` (which the
/// generated code checks is the framework's), `rpc::Context`,
/// `::rpc::Context`, or `<crate>::Context` under `crate = "..."`. A
/// `Context` of another path (`app::Context`) is an ordinary parameter.
pub(crate) fn is_context(ty: &Type, krate: &syn::Path) -> bool {
    let Type::Path(tp) = ty else { return false };
    if tp.qself.is_some() {
        return false;
    }
    let path = &tp.path;
    let Some(last) = path.segments.last() else {
        return false;
    };
    if last.ident != "Context" || !last.arguments.is_none() {
        return false;
    }
    let prefix: Vec<String> = path
        .segments
        .iter()
        .take(path.segments.len() - 1)
        .map(|s| s.ident.to_string())
        .collect();
    let krate_segments: Vec<String> = krate.segments.iter().map(|s| s.ident.to_string()).collect();
    prefix.is_empty() && path.leading_colon.is_none()
        || prefix == ["rpc"]
        || prefix == krate_segments
}

/// `T` for `Option<T>` (also `std::option::Option<T>`).
fn option_inner(ty: &Type) -> Option<&Type> {
    generic_args(ty, "Option").and_then(|args| match args.as_slice() {
        [one] => Some(*one),
        _ => None,
    })
}

fn generic_args<'t>(ty: &'t Type, name: &str) -> Option<Vec<&'t Type>> {
    let Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args
        .iter()
        .map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn output(ret: &ReturnType, krate: &syn::Path) -> Output {
    match ret {
        ReturnType::Default => Output::Unit,
        ReturnType::Type(_, ty) => {
            if let Type::Tuple(t) = &**ty {
                if t.elems.is_empty() {
                    return Output::Unit;
                }
            }
            match generic_args(ty, "Result").as_deref() {
                Some([ok, err]) => Output::Result {
                    ok: (*ok).clone(),
                    err: (*err).clone(),
                    whole: (**ty).clone(),
                },
                // A `Result` alias with the error type fixed (`anyhow::Result<T>`,
                // `io::Result<T>`): the error type is the alias's own, named
                // through `Fallible` (a `Result` it is not fails to compile there).
                Some([ok]) => {
                    let err = syn::parse_quote_spanned! {crate::expand::user_span(&**ty)=>
                        <#ty as #krate::__private::Fallible>::Err
                    };
                    Output::Result {
                        ok: (*ok).clone(),
                        err,
                        whole: (**ty).clone(),
                    }
                }
                _ => Output::Value((**ty).clone()),
            }
        }
    }
}
