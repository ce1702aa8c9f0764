//! Every rule an `#[rpc]` trait must follow, checked in one place on the model.

use std::collections::HashMap;

use syn::ext::IdentExt;
use syn::{GenericParam, Type, TypeParamBound};

use crate::ctxt::Ctxt;
use crate::model::{is_context, Method, Output, Service};

/// Runs all checks, reporting each problem at the offending token, and
/// marks each method found wrong as broken (it gets no generated code).
pub(crate) fn check(cx: &Ctxt, service: &mut Service) {
    let trait_errors = cx.len();
    check_trait(cx, service);
    // A trait refused as a whole (lifetime or const parameters) gets no
    // generated methods: they would only repeat its mistake.
    let refused = cx.len() > trait_errors;
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    let mut broken = Vec::new();
    for (index, method) in service.methods.iter().enumerate() {
        let errors = cx.len();
        check_signature(cx, method);
        check_rust_name(cx, method);
        check_params(cx, &service.krate, method);
        check_notification(cx, method);
        check_subscription(cx, method);
        check_names(cx, service, method, &mut seen);
        if refused || cx.len() > errors {
            broken.push(index);
        }
    }
    for index in broken {
        service.methods[index].broken = true;
    }
}

/// The one name the generated code takes from the trait's namespace. The
/// client traits take any name (see `client.rs`).
fn check_rust_name(cx: &Ctxt, method: &Method) {
    if method.ident.unraw() == "into_rpc" {
        cx.error_spanned_by(
            &method.ident,
            "a method named `into_rpc` would clash with the trait's generated `into_rpc`; rename the Rust method and keep the wire name with `#[rpc(name = \"into_rpc\")]`",
        );
    }
}

fn check_trait(cx: &Ctxt, service: &Service) {
    // Type parameters are served and called with the concrete types of each
    // implementation and client; lifetimes and consts have no wire meaning.
    for param in &service.item.generics.params {
        match param {
            GenericParam::Type(_) => {}
            GenericParam::Lifetime(l) => cx.error_spanned_by(
                l,
                "#[rpc] traits cannot have lifetime parameters: parameters and results are owned values decoded from each request; remove the lifetime",
            ),
            GenericParam::Const(c) => cx.error_spanned_by(
                c,
                "#[rpc] traits cannot have const parameters; take the value as a method parameter or use a type parameter",
            ),
        }
    }
    if let Some(ns) = &service.namespace {
        let value = ns.value();
        let valid_chars = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if value.is_empty() || !valid_chars || value.starts_with('.') || value.ends_with('.') {
            cx.error_spanned_by(
                ns,
                "invalid namespace: use ASCII letters, digits, `_`, `-` and inner `.` only, e.g. `namespace = \"math\"`",
            );
        } else if value == "rpc" || value.starts_with("rpc.") {
            cx.error_spanned_by(ns, "the `rpc` namespace is reserved for the framework");
        }
    }
}

fn check_signature(cx: &Ctxt, method: &Method) {
    let sig = &method.sig;
    if method.asyncness.is_none() {
        cx.error_spanned_by(sig.fn_token, "#[rpc] methods must be `async fn`");
    }
    match &method.receiver {
        None => cx.error_spanned_by(&sig.ident, "#[rpc] methods must take `&self` as their first parameter"),
        Some(r) if r.reference.is_none() => {
            cx.error_spanned_by(r, "#[rpc] methods must take `&self`, not `self` by value: the service is shared between calls")
        }
        Some(r) if r.mutability.is_some() => cx.error_spanned_by(
            r,
            "#[rpc] methods must take `&self`, not `&mut self`: calls run concurrently; use interior mutability (e.g. a Mutex) for state",
        ),
        Some(r) if r.colon_token.is_some() => cx.error_spanned_by(r, "#[rpc] methods must take plain `&self`"),
        Some(_) => {}
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "#[rpc] methods cannot be generic; parameter and result types must be concrete",
        );
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "#[rpc] methods cannot be variadic");
    }
    if let Some(u) = &sig.unsafety {
        cx.error_spanned_by(u, "#[rpc] methods cannot be `unsafe`");
    }
    if let Some(stream) = returned_stream(method) {
        cx.error_spanned_by(
            stream,
            "an #[rpc] method cannot return a stream: return `Subscription<T>` (`Subscription::new(stream)`) and declare `#[rpc(subscription = \"...\", unsubscribe = \"...\")]`; the client gets a typed stream of the items",
        );
        return;
    }
    let output_types: Vec<&Type> = match &method.output {
        Output::Unit => vec![],
        Output::Value(t) => vec![t],
        Output::Result { ok, err, .. } => vec![ok, err],
    };
    for ty in output_types {
        check_type(cx, ty, "the return type");
    }
}

/// The returned type (or `Result`'s `Ok` type) when it is a stream, which
/// serde cannot carry: recognised by name, as the macro sees no types.
fn returned_stream(method: &Method) -> Option<&Type> {
    match &method.output {
        Output::Value(ty) | Output::Result { ok: ty, .. } => is_stream(ty).then_some(ty),
        Output::Unit => None,
    }
}

/// `BoxStream<..>`, `LocalBoxStream<..>`, a type named `Stream`, `impl Stream<..>`,
/// `dyn Stream<..>`, and any of these inside `Pin<..>` or `Box<..>`.
fn is_stream(ty: &Type) -> bool {
    const NAMES: &[&str] = &["Stream", "TryStream", "BoxStream", "LocalBoxStream"];
    let names_stream = |path: &syn::Path| {
        path.segments
            .last()
            .is_some_and(|s| NAMES.iter().any(|n| s.ident == n))
    };
    let bounds_stream = |bounds: &syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>| {
        bounds
            .iter()
            .any(|b| matches!(b, TypeParamBound::Trait(t) if names_stream(&t.path)))
    };
    match ty {
        Type::Path(tp) if tp.qself.is_none() => {
            let Some(last) = tp.path.segments.last() else {
                return false;
            };
            if names_stream(&tp.path) {
                return true;
            }
            if last.ident != "Pin" && last.ident != "Box" {
                return false;
            }
            match &last.arguments {
                syn::PathArguments::AngleBracketed(args) => args
                    .args
                    .iter()
                    .any(|a| matches!(a, syn::GenericArgument::Type(t) if is_stream(t))),
                _ => false,
            }
        }
        Type::ImplTrait(t) => bounds_stream(&t.bounds),
        Type::TraitObject(t) => bounds_stream(&t.bounds),
        Type::Paren(t) => is_stream(&t.elem),
        Type::Group(t) => is_stream(&t.elem),
        _ => false,
    }
}

fn check_params(cx: &Ctxt, krate: &syn::Path, method: &Method) {
    if let Some(span) = method.attrs.params_object {
        if method.params.len() != 1 {
            cx.error_spanned_by(
                quote::quote_spanned!(span=> params_object),
                format!(
                    "`params_object` takes the whole `params` object as the method's one parameter; this method has {}",
                    method.params.len()
                ),
            );
        } else if method.attrs.named_params {
            cx.error_spanned_by(
                quote::quote_spanned!(span=> params_object),
                "`params_object` and `named_params` do not go together: the one parameter is the whole params object",
            );
        }
    }
    let mut first_optional: Option<&syn::Ident> = None;
    for param in &method.params {
        if let Type::Reference(r) = &param.ty {
            if is_context(&r.elem, krate) {
                cx.error_spanned_by(
                    r,
                    "take the request context by value (`ctx: Context`); it is cheap to clone",
                );
                continue;
            }
        }
        check_type(cx, &param.ty, "a parameter");
        match (&param.option_of, first_optional) {
            (Some(_), None) => first_optional = Some(&param.ident),
            (None, Some(opt)) => cx.error_spanned_by(
                &param.ident,
                format!(
                    "required parameter `{}` follows optional parameter `{opt}`: positional calls could not tell them apart; move `Option` parameters to the end",
                    param.ident
                ),
            ),
            _ => {}
        }
    }
}

/// Types that cannot travel: `impl Trait`, references, trait objects.
fn check_type(cx: &Ctxt, ty: &Type, what: &str) {
    match ty {
        Type::ImplTrait(_) => cx.error_spanned_by(
            ty,
            format!("`impl Trait` cannot be {what} of an #[rpc] method; use a concrete type that implements Serialize/Deserialize"),
        ),
        Type::Reference(r) => cx.error_spanned_by(
            r,
            format!("references cannot be {what} of an #[rpc] method; use an owned type (e.g. `String` instead of `&str`)"),
        ),
        Type::TraitObject(t) if t.bounds.iter().any(|b| matches!(b, TypeParamBound::Trait(_))) => {
            cx.error_spanned_by(ty, format!("trait objects cannot be {what} of an #[rpc] method; use a concrete type"))
        }
        _ => {}
    }
}

fn check_notification(cx: &Ctxt, method: &Method) {
    if let Some(span) = method.attrs.idempotent {
        if method.attrs.notification.is_some() {
            cx.syn_error(syn::Error::new(
                span,
                "a notification gets no answer, so there is nothing to retry: `idempotent` goes on calls",
            ));
        } else if method.attrs.subscription.is_some() {
            cx.syn_error(syn::Error::new(
                span,
                "a reconnecting client makes subscriptions again anyway: remove `idempotent`",
            ));
        }
    }
    if method.attrs.notification.is_some() {
        match &method.output {
            Output::Unit => {}
            Output::Value(ty) | Output::Result { whole: ty, .. } => cx.error_spanned_by(
                ty,
                "a #[rpc(notification)] method gets no answer, so it cannot return a value; remove the return type",
            ),
        }
    }
}

fn check_subscription(cx: &Ctxt, method: &Method) {
    let attrs = &method.attrs;
    if returned_stream(method).is_some()
        && attrs.subscription.is_some() == attrs.unsubscribe.is_some()
    {
        // Said once, at the return type (`check_signature`).
        return;
    }
    match (&attrs.subscription, &attrs.unsubscribe, method.subscription_item()) {
        (None, None, None) => {}
        (Some(_), Some(_), Some(_)) if attrs.notification.is_some() => cx.error_spanned_by(
            &method.ident,
            "a subscription method answers the subscription's id: it cannot be a notification",
        ),
        (Some(_), Some(_), Some(_)) => {}
        (Some(s), None, _) => cx.error_spanned_by(
            s,
            "a subscription needs the method that ends it: add `unsubscribe = \"...\"`",
        ),
        (None, Some(u), _) => cx.error_spanned_by(
            u,
            "`unsubscribe` goes with `subscription = \"...\"` (the notification items travel in)",
        ),
        (Some(_), Some(_), None) => cx.error_spanned_by(
            &method.sig.output,
            "a subscription method returns `Subscription<T>` (or `Result<Subscription<T>, E>`)",
        ),
        (None, None, Some(_)) => cx.error_spanned_by(
            &method.sig.output,
            "a method returning `Subscription<T>` needs `#[rpc(subscription = \"...\", unsubscribe = \"...\")]`",
        ),
    }
}

fn check_names<'m>(
    cx: &Ctxt,
    service: &Service,
    method: &'m Method,
    seen: &mut HashMap<String, &'m syn::Ident>,
) {
    let base = method.base_name();
    let mut names = vec![(base, method.name_span())];
    names.extend(method.attrs.aliases.iter().map(|a| (a.value(), a.span())));
    names.extend(
        method
            .attrs
            .unsubscribe
            .iter()
            .map(|u| (u.value(), u.span())),
    );
    for (base, span) in names {
        if base.is_empty() {
            cx.syn_error(syn::Error::new(span, "method names cannot be empty"));
            continue;
        }
        let wire = service.wire_name(&base);
        if wire.starts_with("rpc.") || wire.starts_with("$/") {
            cx.syn_error(syn::Error::new(
                span,
                format!("method name `{wire}` is reserved: names starting with `rpc.` or `$/` belong to the framework"),
            ));
        }
        if let Some(first) = seen.get(&wire) {
            cx.syn_error(syn::Error::new(
                span,
                format!("duplicate method name `{wire}`: method `{first}` already uses it"),
            ));
        } else {
            seen.insert(wire, &method.ident);
        }
    }
}
