//! The method table: handlers by wire name, with the metadata discovery reports.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::protocol::{Context, ErrorObject, Params};

/// What a handler produces: the serialized result, or an error object.
pub type MethodResult = Result<Box<RawValue>, ErrorObject>;

/// The future a handler returns. It owns everything it needs (`'static`), so
/// it can outlive the request bytes and run on any thread.
pub type MethodFuture = futures_util::future::BoxFuture<'static, MethodResult>;

/// A type-erased handler: decodes `params` synchronously (borrowing the
/// request bytes) and returns the future that does the work.
pub type Handler = Arc<dyn Fn(Params<'_>, &Context) -> MethodFuture + Send + Sync>;

/// Serializes a handler's return value into a result.
///
/// ```
/// let r = rpc_core::to_result(&[1, 2]).unwrap();
/// assert_eq!(r.get(), "[1,2]");
/// ```
pub fn to_result<T: Serialize + ?Sized>(value: &T) -> MethodResult {
    serde_json::value::to_raw_value(value)
        .map_err(|e| ErrorObject::internal_error(format_args!("cannot serialize the result: {e}")))
}

/// Describes one parameter of a method, for discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// The parameter's name (the key in named params).
    pub name: Cow<'static, str>,
    /// The Rust type as written in the trait, e.g. `Option<String>`.
    pub ty: Cow<'static, str>,
    /// Whether a caller must supply it.
    pub required: bool,
    /// What it is for (from the method's doc comment: a line
    /// `` - `name`: what it is ``).
    pub description: Option<Cow<'static, str>>,
}

/// Describes one method, for discovery (`rpc.discover`, HTTP GET).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodInfo {
    /// The wire name.
    pub name: Cow<'static, str>,
    /// Other wire names that reach the same handler.
    pub aliases: Vec<Cow<'static, str>>,
    /// The doc comment of the method, if any.
    pub description: Option<Cow<'static, str>>,
    /// Parameters in declaration order.
    pub params: Vec<ParamInfo>,
    /// The Rust type of the result, or `None` for a method that returns nothing.
    pub result: Option<Cow<'static, str>>,
    /// Whether callers are meant to call it as a notification (no answer).
    pub notification: bool,
    /// Whether calling it twice does what calling it once does: clients may
    /// send it again after a failure (`#[rpc(idempotent)]`).
    pub idempotent: bool,
    /// The role a caller must hold ([`Roles`](crate::server::auth::Roles) in the
    /// context), if any; checked before the params are decoded.
    pub requires: Option<Cow<'static, str>>,
    /// For a subscription method: the notification its items travel in
    /// and the method that ends one.
    pub subscription: Option<SubscriptionInfo>,
    /// Notifications the method sends (to its caller or to every client),
    /// as `#[rpc(notifies = ["tick"])]` declares them.
    pub notifies: Vec<Cow<'static, str>>,
    /// Whether the one parameter is the whole `params` object
    /// (`#[rpc(params_object)]`, as LSP's methods take theirs).
    pub params_object: bool,
    /// Describes the parameters', result's and errors' types (`#[rpc]`
    /// generates it); `None`: described from the type names only.
    pub describe: Option<crate::server::schema::Describe>,
}

/// What a service says of itself in its OpenRPC document's `info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its name.
    pub title: Cow<'static, str>,
    /// Its version.
    pub version: Cow<'static, str>,
    /// What it does.
    pub description: Option<Cow<'static, str>>,
}

/// What discovery says of a subscription method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// The notification that carries the items.
    pub notification: Cow<'static, str>,
    /// The method that ends a subscription (takes its id, answers a bool).
    pub unsubscribe: Cow<'static, str>,
}

impl MethodInfo {
    /// Metadata with just a name; fill in the rest with struct update syntax.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        MethodInfo {
            name: name.into(),
            ..MethodInfo::default()
        }
    }
}

/// A registered method: its handler and its metadata.
#[derive(Clone)]
pub struct Method {
    pub(crate) handler: Handler,
    pub(crate) info: Arc<MethodInfo>,
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Method {
    /// The method's metadata.
    pub fn info(&self) -> &MethodInfo {
        &self.info
    }
}

/// Registering two methods under one wire name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The name is already taken.
    #[error("method `{0}` is registered twice")]
    Duplicate(String),
    /// Names starting with `rpc.` belong to the framework.
    #[error(
        "method name `{0}` is reserved: names starting with `rpc.` or `$/` belong to the framework"
    )]
    Reserved(String),
}

/// Handlers by wire name. Build one per service (`.into_rpc()` from a trait
/// annotated with `#[rpc]`, or [`MethodTable::register`] by hand) and
/// [`merge`](MethodTable::merge) them.
///
/// ```
/// use rpc_core::{MethodTable, MethodInfo, Params};
/// let mut table = MethodTable::new();
/// table.register(MethodInfo::named("ping"), |_params: Params<'_>, _ctx: &rpc_core::Context| {
///     Ok(async { Ok::<_, rpc_core::ErrorObject>("pong") })
/// }).unwrap();
/// assert!(table.get("ping").is_some());
/// assert!(table.clone().merge(table).is_err()); // "ping" twice
/// ```
#[derive(Clone, Default)]
pub struct MethodTable {
    /// What the service says of itself (`into_rpc` sets the crate's own
    /// name and version unless it is set already).
    info: Option<ServiceInfo>,
    methods: HashMap<Box<str>, Method>,
    /// Registration order, so discovery lists methods as declared.
    order: Vec<Box<str>>,
}

impl MethodTable {
    /// An empty table.
    pub fn new() -> Self {
        MethodTable::default()
    }

    /// Registers a handler under `info.name` and its aliases.
    ///
    /// `handler` decodes the params (synchronously; return `Err` for -32602)
    /// and returns a future whose output serializes into the result.
    pub fn register<F, Fut, T, E>(
        &mut self,
        info: MethodInfo,
        handler: F,
    ) -> Result<(), RegisterError>
    where
        F: Fn(Params<'_>, &Context) -> Result<Fut, ErrorObject> + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Serialize,
        E: Into<ErrorObject>,
    {
        let handler: Handler = Arc::new(move |params: Params<'_>, ctx: &Context| -> MethodFuture {
            match handler(params, ctx) {
                Ok(fut) => Box::pin(async move {
                    match fut.await {
                        Ok(value) => to_result(&value),
                        Err(e) => Err(e.into()),
                    }
                }),
                Err(e) => Box::pin(std::future::ready(Err(e))),
            }
        });
        self.register_handler(info, handler)
    }

    /// Registers an already type-erased handler (what generated code uses).
    pub fn register_handler(
        &mut self,
        info: MethodInfo,
        handler: Handler,
    ) -> Result<(), RegisterError> {
        let names: Vec<&str> = std::iter::once(&info.name)
            .chain(&info.aliases)
            .map(|n| n.as_ref())
            .collect();
        for (i, name) in names.iter().enumerate() {
            if name.starts_with("rpc.") || name.starts_with("$/") {
                return Err(RegisterError::Reserved((*name).to_owned()));
            }
            if self.methods.contains_key(*name) || names[..i].contains(name) {
                return Err(RegisterError::Duplicate((*name).to_owned()));
            }
        }
        let method = Method {
            handler,
            info: Arc::new(info.clone()),
        };
        for name in names {
            self.methods.insert(name.into(), method.clone());
        }
        self.order.push(info.name.as_ref().into());
        Ok(())
    }

    /// Adds every method of `other`; a name present in both is an error.
    pub fn merge(mut self, other: MethodTable) -> Result<MethodTable, RegisterError> {
        if let Some(dup) = other
            .methods
            .keys()
            .find(|name| self.methods.contains_key(*name))
        {
            return Err(RegisterError::Duplicate(dup.to_string()));
        }
        self.methods.extend(other.methods);
        self.order.extend(other.order);
        if self.info.is_none() {
            self.info = other.info;
        }
        Ok(self)
    }

    /// Sets what the service says of itself in discovery (`info` of the
    /// OpenRPC document): by default the name and version of the crate
    /// that declared the first service merged in.
    ///
    /// ```
    /// use rpc_core::{MethodTable, ServiceInfo};
    /// let table = MethodTable::new().with_info(ServiceInfo {
    ///     title: "Calculator".into(),
    ///     version: "2.1.0".into(),
    ///     description: Some("Arithmetic over JSON-RPC".into()),
    /// });
    /// assert_eq!(table.info().map(|i| &*i.title), Some("Calculator"));
    /// ```
    pub fn with_info(mut self, info: ServiceInfo) -> Self {
        self.info = Some(info);
        self
    }

    /// What the service says of itself, if anything.
    pub fn info(&self) -> Option<&ServiceInfo> {
        self.info.as_ref()
    }

    /// Sets `info` unless it is set (what `into_rpc` does with the crate's
    /// own name and version).
    #[doc(hidden)]
    pub fn with_default_info(mut self, info: ServiceInfo) -> Self {
        self.info.get_or_insert(info);
        self
    }

    /// The method registered under `name` (exact, case-sensitive), if any.
    pub fn get(&self, name: &str) -> Option<&Method> {
        self.methods.get(name)
    }

    /// Every method once (aliases are listed inside their method), in
    /// registration order.
    pub fn methods(&self) -> impl Iterator<Item = &MethodInfo> {
        self.order
            .iter()
            .filter_map(|name| self.methods.get(name))
            .map(Method::info)
    }

    /// The number of wire names (including aliases).
    pub fn len(&self) -> usize {
        self.methods.len()
    }

    /// Whether no method is registered.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }
}

impl std::fmt::Debug for MethodTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.order.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&'static str]) -> MethodTable {
        let mut t = MethodTable::new();
        for n in names {
            t.register(MethodInfo::named(*n), |_: Params<'_>, _: &Context| {
                Ok(async { Ok::<_, ErrorObject>(()) })
            })
            .unwrap();
        }
        t
    }

    #[test]
    fn merge_rejects_duplicates_and_keeps_order() {
        let merged = table(&["a", "b"]).merge(table(&["c"])).unwrap();
        let names: Vec<_> = merged.methods().map(|m| m.name.to_string()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            table(&["a"]).merge(table(&["a"])).unwrap_err(),
            RegisterError::Duplicate("a".into())
        );
    }

    #[test]
    fn aliases_collide_too() {
        let mut t = table(&["a"]);
        let info = MethodInfo {
            aliases: vec!["a".into()],
            ..MethodInfo::named("b")
        };
        let h: Handler = Arc::new(|_, _| Box::pin(async { to_result(&()) }));
        assert_eq!(
            t.register_handler(info, h).unwrap_err(),
            RegisterError::Duplicate("a".into())
        );
    }

    #[test]
    fn reserved_names_are_refused() {
        let mut t = MethodTable::new();
        let h: Handler = Arc::new(|_, _| Box::pin(async { to_result(&()) }));
        assert!(matches!(
            t.register_handler(MethodInfo::named("rpc.x"), h),
            Err(RegisterError::Reserved(_))
        ));
    }
}
