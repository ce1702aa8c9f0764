//! Parsing of `#[rpc(...)]` arguments on the trait and on its methods.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprArray, ExprLit, Lit, LitStr, Meta, Token};

use crate::ctxt::Ctxt;

/// Options of `#[rpc(...)]` on the trait.
#[derive(Default)]
pub(crate) struct TraitAttrs {
    /// `namespace = "math"`: wire names become `math.<name>`.
    pub namespace: Option<LitStr>,
    /// `crate = "::rpc"`: the path of the runtime.
    pub krate: Option<syn::Path>,
    /// `requires = "admin"`: every method requires this role.
    pub requires: Option<LitStr>,
    /// `schemas = false`: describe types as "any value", needing no `JsonSchema`.
    pub no_schemas: bool,
}

/// Options of `#[rpc(...)]` on a method.
#[derive(Default)]
pub(crate) struct MethodAttrs {
    /// `name = "div"`.
    pub name: Option<LitStr>,
    /// `aliases = ["a", "b"]`.
    pub aliases: Vec<LitStr>,
    /// `notifies = ["tick"]`: notifications the method sends its caller
    /// (or every client), for discovery.
    pub notifies: Vec<LitStr>,
    /// `notification`.
    pub notification: Option<Span>,
    /// `named_params`: the client always sends named params for this method.
    pub named_params: bool,
    /// `params_object`: the one parameter is the whole `params` object.
    pub params_object: Option<proc_macro2::Span>,
    /// `idempotent`: running it twice does what running it once does, so
    /// the client may send it again after a failure.
    pub idempotent: Option<Span>,
    /// `requires = "admin"`: the caller must hold this role.
    pub requires: Option<LitStr>,
    /// `subscription = "ticks"`: the notification its items travel in.
    pub subscription: Option<LitStr>,
    /// `unsubscribe = "unsubscribe_ticks"`: the method that ends one.
    pub unsubscribe: Option<LitStr>,
}

/// The comma-separated `key = value` / `flag` list inside `#[rpc(...)]`.
struct Args(Punctuated<Meta, Token![,]>);

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Punctuated::parse_terminated(input).map(Args)
    }
}

fn string_value(cx: &Ctxt, key: &str, expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.clone()),
        _ => {
            cx.error_spanned_by(
                expr,
                format!("`{key}` expects a string literal, e.g. `{key} = \"...\"`"),
            );
            None
        }
    }
}

/// Parses the arguments given to `#[rpc(...)]` on the trait itself.
pub(crate) fn trait_attrs(cx: &Ctxt, args: proc_macro2::TokenStream) -> TraitAttrs {
    let mut out = TraitAttrs::default();
    let args = match syn::parse2::<Args>(args) {
        Ok(args) => args,
        Err(e) => {
            cx.syn_error(e);
            return out;
        }
    };
    let mut seen = Seen::default();
    for meta in args.0 {
        seen.check(cx, meta.path());
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("namespace") => {
                out.namespace = string_value(cx, "namespace", &nv.value);
            }
            Meta::NameValue(nv) if nv.path.is_ident("crate") => {
                if let Some(s) = string_value(cx, "crate", &nv.value) {
                    match s.parse::<syn::Path>() {
                        Ok(path) => out.krate = Some(path),
                        Err(_) => cx.error_spanned_by(&s, "`crate` expects a path, e.g. `crate = \"::rpc\"`"),
                    }
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("requires") => {
                out.requires = string_value(cx, "requires", &nv.value);
            }
            Meta::NameValue(nv) if nv.path.is_ident("schemas") => match &nv.value {
                Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => out.no_schemas = !b.value,
                other => cx.error_spanned_by(other, "`schemas` expects `true` or `false`: `schemas = false` describes every type as any value"),
            },
            other if is_any(other.path(), &["namespace", "crate", "requires"]) => {
                let key = other.path().get_ident().map(ToString::to_string).unwrap_or_default();
                cx.error_spanned_by(other, format!("`{key}` expects a string: `{key} = \"...\"`"));
            }
            other => cx.error_spanned_by(
                other.path(),
                "unknown #[rpc] option on a trait; expected `namespace = \"...\"`, `requires = \"...\"`, `schemas = false` or `crate = \"...\"`",
            ),
        }
    }
    out
}

/// Takes the `#[rpc(...)]` attributes off a method and parses them.
pub(crate) fn method_attrs(cx: &Ctxt, attrs: &mut Vec<Attribute>) -> MethodAttrs {
    let mut out = MethodAttrs::default();
    let mut kept = Vec::new();
    let mut seen = Seen::default();
    for attr in attrs.drain(..) {
        if !attr.path().is_ident("rpc") {
            kept.push(attr);
            continue;
        }
        let args = match attr.parse_args::<Args>() {
            Ok(args) => args,
            Err(e) => {
                cx.syn_error(e);
                continue;
            }
        };
        for meta in args.0 {
            seen.check(cx, meta.path());
            match &meta {
                Meta::NameValue(nv) if nv.path.is_ident("name") => out.name = string_value(cx, "name", &nv.value),
                Meta::NameValue(nv) if nv.path.is_ident("aliases") => match &nv.value {
                    Expr::Array(ExprArray { elems, .. }) => {
                        out.aliases.extend(elems.iter().filter_map(|e| string_value(cx, "aliases", e)));
                    }
                    other => cx.error_spanned_by(other, "`aliases` expects a list of strings, e.g. `aliases = [\"a\", \"b\"]`"),
                },
                Meta::NameValue(nv) if nv.path.is_ident("notifies") => match &nv.value {
                    Expr::Array(ExprArray { elems, .. }) => {
                        out.notifies.extend(elems.iter().filter_map(|e| string_value(cx, "notifies", e)));
                    }
                    other => cx.error_spanned_by(other, "`notifies` expects a list of notification names, e.g. `notifies = [\"tick\"]`"),
                },
                Meta::NameValue(nv) if nv.path.is_ident("requires") => out.requires = string_value(cx, "requires", &nv.value),
                Meta::NameValue(nv) if nv.path.is_ident("subscription") => out.subscription = string_value(cx, "subscription", &nv.value),
                Meta::NameValue(nv) if nv.path.is_ident("unsubscribe") => out.unsubscribe = string_value(cx, "unsubscribe", &nv.value),
                Meta::Path(p) if p.is_ident("notification") => out.notification = Some(span_of(p)),
                Meta::Path(p) if p.is_ident("named_params") => out.named_params = true,
                Meta::Path(p) if p.is_ident("params_object") => out.params_object = Some(span_of(p)),
                Meta::Path(p) if p.is_ident("idempotent") => out.idempotent = Some(span_of(p)),
                other if is_any(other.path(), &["name", "requires", "subscription", "unsubscribe"]) => {
                    let key = other.path().get_ident().map(ToString::to_string).unwrap_or_default();
                    cx.error_spanned_by(other, format!("`{key}` expects a string: `{key} = \"...\"`"));
                }
                other if is_any(other.path(), &["aliases", "notifies"]) => {
                    let key = other.path().get_ident().map(ToString::to_string).unwrap_or_default();
                    cx.error_spanned_by(other, format!("`{key}` expects a list of strings: `{key} = [\"a\", \"b\"]`"));
                }
                other if is_any(other.path(), &["notification", "named_params", "params_object", "idempotent"]) => {
                    let key = other.path().get_ident().map(ToString::to_string).unwrap_or_default();
                    cx.error_spanned_by(other, format!("`{key}` takes no value: write `#[rpc({key})]`"));
                }
                other => cx.error_spanned_by(
                    other.path(),
                    "unknown #[rpc] option on a method; expected `name = \"...\"`, `aliases = [...]`, `requires = \"...\"`, `subscription = \"...\"`, `unsubscribe = \"...\"`, `notifies = [...]`, `notification`, `named_params`, `params_object` or `idempotent`",
                ),
            }
        }
    }
    *attrs = kept;
    out
}

fn is_any(path: &syn::Path, keys: &[&str]) -> bool {
    keys.iter().any(|k| path.is_ident(k))
}

/// The options given so far, to report one given twice.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn check(&mut self, cx: &Ctxt, path: &syn::Path) {
        let Some(key) = path.get_ident().map(ToString::to_string) else {
            return;
        };
        if self.0.contains(&key) {
            cx.error_spanned_by(path, format!("`{key}` is given more than once"));
        } else {
            self.0.push(key);
        }
    }
}

fn span_of(path: &syn::Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

/// The text of the doc comments among `attrs`, lines joined, trimmed at both ends.
pub(crate) fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => {
                    // `/// text` arrives as " text": drop that one space, as rustdoc does,
                    // and keep deeper indentation (code blocks).
                    let line = s.value();
                    Some(
                        line.strip_prefix(' ')
                            .unwrap_or(&line)
                            .trim_end()
                            .to_owned(),
                    )
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}
