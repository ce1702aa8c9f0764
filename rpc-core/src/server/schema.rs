//! JSON Schemas of methods' parameters and results, for discovery.
//!
//! With the `schema` feature (what a server build turns on), schemas come
//! from [`schemars`]: derive `schemars::JsonSchema` on your parameter and
//! result types and `#[rpc]` describes them completely in the OpenRPC
//! document (structs with their properties and `required`, enums tagged
//! or untagged, maps, tuples, `Option` as nullable, integer bounds), each
//! named type once under `components/schemas` and referred to with
//! `$ref`, in JSON Schema draft 7 as OpenRPC 1.3 speaks it. A type without
//! `JsonSchema` is a compile error at the type; `#[rpc(schemas = false)]`
//! on the trait opts out (its types are then described as "any value").
//! Without the feature (a client-only build), nothing is generated and
//! no type needs `JsonSchema`.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Schemas of one method: each parameter's, in order, and the result's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodSchemas {
    /// One schema per parameter.
    pub params: Vec<Value>,
    /// The result's schema; `None` for a method that returns nothing.
    pub result: Option<Value>,
    /// The application errors the method declares (its error type's
    /// variants, with `#[derive(RpcError)]`).
    pub errors: Vec<ErrorInfo>,
    /// A subscription's item schema.
    pub item: Option<Value>,
}

/// Describes a method's types into a [`Schemas`] collection: what
/// `#[rpc]` generates for each method.
#[derive(Clone, Copy)]
pub struct Describe(pub fn(&mut Schemas) -> MethodSchemas);

impl std::fmt::Debug for Describe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Describe")
    }
}

impl PartialEq for Describe {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for Describe {}

/// One application error a method declares: its code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The error code.
    pub code: i64,
    /// What it means.
    pub message: Cow<'static, str>,
    /// The schema of its `data`, when it carries some.
    pub data: Option<Value>,
}

/// The schemas of a whole document: each named type is kept once, for
/// `components/schemas`; methods refer to it with `$ref`.
pub struct Schemas {
    /// Types as the server reads them (parameters): an `Option` field may
    /// be left out.
    #[cfg(feature = "schema")]
    read: schemars::SchemaGenerator,
    /// Types as the server writes them (results, items): every field it
    /// writes is required, an `Option` one as nullable.
    #[cfg(feature = "schema")]
    written: schemars::SchemaGenerator,
    /// Types met without a JSON Schema.
    #[cfg(feature = "schema")]
    undescribed: Vec<&'static str>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schemas")
    }
}

impl Default for Schemas {
    fn default() -> Self {
        Schemas::new()
    }
}

/// Where shared schemas live in an OpenRPC document.
#[cfg(feature = "schema")]
const COMPONENTS: &str = "/components/schemas";

/// A type `#[rpc]` can describe in the OpenRPC document: any
/// `schemars::JsonSchema` type.
#[cfg(feature = "schema")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no JSON Schema for the OpenRPC document",
    label = "this type needs `schemars::JsonSchema`",
    note = "derive it: `#[derive(schemars::JsonSchema)]` (with `schemars = \"1\"` in Cargo.toml), or opt the trait out with `#[rpc(schemas = false)]`"
)]
pub trait Described: schemars::JsonSchema {}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema + ?Sized> Described for T {}

#[cfg(feature = "schema")]
impl Schemas {
    /// An empty collection, in JSON Schema draft 7.
    pub fn new() -> Self {
        let generator = |contract| {
            let mut settings = schemars::generate::SchemaSettings::draft07();
            settings.definitions_path = COMPONENTS.into();
            settings.meta_schema = None;
            settings.contract = contract;
            settings.into_generator()
        };
        Schemas {
            read: generator(schemars::generate::Contract::Deserialize),
            written: generator(schemars::generate::Contract::Serialize),
            undescribed: Vec::new(),
        }
    }

    /// The schema of a parameter of type `T` (a `$ref` for a named type,
    /// kept for [`into_components`](Self::into_components)).
    pub fn of<T: Described + ?Sized>(&mut self) -> Value {
        subschema::<T>(&mut self.read)
    }

    /// The schema of a result (or subscription item) of type `T`.
    pub fn of_result<T: Described + ?Sized>(&mut self) -> Value {
        subschema::<T>(&mut self.written)
    }

    /// The named types met so far, for `components/schemas`, and the
    /// renamings that results' schemas need ([`Renamed::apply`]): a name
    /// that means one schema as read and another as written (an `Option`
    /// field, two types of one name) keeps the one read, the one written
    /// becomes `<Name>Output`.
    pub fn into_components(mut self) -> (Map<String, Value>, Renamed) {
        let read = self.read.take_definitions(true);
        let written = self.written.take_definitions(true);
        let mut renamed = Renamed::default();
        for (name, schema) in &written {
            if read.get(name).is_some_and(|other| other != schema) {
                let mut new = format!("{name}Output");
                while read.contains_key(&new) || written.contains_key(&new) {
                    new.push('_');
                }
                renamed.0.insert(name.clone(), new);
            }
        }
        let mut components: Map<String, Value> = read
            .into_iter()
            .map(|(name, schema)| (name, plain(schema)))
            .collect();
        for (name, mut schema) in written {
            renamed.apply(&mut schema);
            let name = renamed.0.get(&name).cloned().unwrap_or(name);
            components.entry(name).or_insert_with(|| plain(schema));
        }
        (components, renamed)
    }
}

#[cfg(feature = "schema")]
fn subschema<T: schemars::JsonSchema + ?Sized>(generator: &mut schemars::SchemaGenerator) -> Value {
    let mut schema = generator.subschema_for::<T>();
    for transform in generator.transforms_mut() {
        transform.transform(&mut schema);
    }
    plain(schema.to_value())
}

/// `true` (any value) as `{}`, which every reader understands.
#[cfg(feature = "schema")]
fn plain(schema: Value) -> Value {
    match schema {
        Value::Bool(true) => Value::Object(Map::new()),
        other => other,
    }
}

#[cfg(not(feature = "schema"))]
impl Schemas {
    /// An empty collection (without the `schema` feature: no schemas).
    pub fn new() -> Self {
        Schemas {}
    }

    /// Any value: this build describes no types.
    pub fn of<T: ?Sized>(&mut self) -> Value {
        Value::Object(Map::new())
    }

    /// Any value: this build describes no types.
    pub fn of_result<T: ?Sized>(&mut self) -> Value {
        Value::Object(Map::new())
    }

    /// Nothing: this build describes no types.
    pub fn into_components(self) -> (Map<String, Value>, Renamed) {
        (Map::new(), Renamed::default())
    }
}

/// Components renamed when a document's schemas were gathered: the `$ref`s
/// of results and items must follow.
#[derive(Debug, Default)]
pub struct Renamed(std::collections::BTreeMap<String, String>);

impl Renamed {
    /// Rewrites the `$ref`s in `schema` to renamed components.
    pub fn apply(&self, schema: &mut Value) {
        if self.0.is_empty() {
            return;
        }
        match schema {
            Value::Object(object) => {
                let target = object
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .and_then(|name| self.0.get(name));
                if let Some(new) = target {
                    let new = format!("#/components/schemas/{new}");
                    object.insert("$ref".into(), Value::String(new));
                }
                for value in object.values_mut() {
                    self.apply(value);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply(v)),
            _ => {}
        }
    }
}

impl Schemas {
    /// Any value, for a method whose trait opted out of schemas.
    pub fn any(&mut self) -> Value {
        Value::Object(Map::new())
    }

    /// Any value, for a type that has no JSON Schema: in a build that
    /// describes types, the schema says so (and the document's builder
    /// logs it), so that a forgotten `JsonSchema` shows.
    pub fn undescribed<T: ?Sized>(&mut self) -> Value {
        #[cfg(feature = "schema")]
        {
            let name = std::any::type_name::<T>();
            if !self.undescribed.contains(&name) {
                self.undescribed.push(name);
            }
            serde_json::json!({
                "description": format!("{name}: no schema (the type does not implement schemars::JsonSchema)")
            })
        }
        #[cfg(not(feature = "schema"))]
        {
            Value::Object(Map::new())
        }
    }

    /// The types met that have no JSON Schema.
    pub fn undescribed_types(&self) -> &[&'static str] {
        #[cfg(feature = "schema")]
        {
            &self.undescribed
        }
        #[cfg(not(feature = "schema"))]
        {
            &[]
        }
    }

    /// A string (a subscription's id).
    pub fn of_string(&mut self) -> Value {
        serde_json::json!({ "type": "string" })
    }
}

/// Finds the schema of `T` if it has one (what `#[rpc]` generates calls
/// `(&SchemaOf::<T>::new()).read(schemas)`): the type's JSON Schema in a
/// build that describes types (the `schema` feature, which servers turn
/// on) when `T: JsonSchema`, else [`Schemas::undescribed`]. So a crate
/// whose types have no `JsonSchema` compiles whatever features another
/// crate of the build turns on.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct SchemaOf<T: ?Sized>(std::marker::PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> SchemaOf<T> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        SchemaOf(std::marker::PhantomData)
    }
}

/// `T` has a JSON Schema.
#[doc(hidden)]
pub trait ViaJsonSchema {
    fn read(&self, schemas: &mut Schemas) -> Value;
    fn written(&self, schemas: &mut Schemas) -> Value;
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema + ?Sized> ViaJsonSchema for SchemaOf<T> {
    fn read(&self, schemas: &mut Schemas) -> Value {
        schemas.of::<T>()
    }
    fn written(&self, schemas: &mut Schemas) -> Value {
        schemas.of_result::<T>()
    }
}

/// `T` has none (picked only when [`ViaJsonSchema`] does not apply).
#[doc(hidden)]
pub trait ViaUndescribed {
    fn read(&self, schemas: &mut Schemas) -> Value;
    fn written(&self, schemas: &mut Schemas) -> Value;
}

impl<T: ?Sized> ViaUndescribed for &SchemaOf<T> {
    fn read(&self, schemas: &mut Schemas) -> Value {
        schemas.undescribed::<T>()
    }
    fn written(&self, schemas: &mut Schemas) -> Value {
        schemas.undescribed::<T>()
    }
}

/// The application errors an error type declares: `#[derive(RpcError)]`
/// implements it from each variant's code and message.
#[doc(hidden)]
pub trait DeclaredErrors {
    /// Every error the type can become, with the schemas of their data
    /// described into `schemas`.
    fn declared(schemas: &mut Schemas) -> Vec<ErrorInfo>;
}

/// Finds the errors `E` declares, if it declares any (what `#[rpc]`
/// generates calls `(&ErrorsOf::<E>::new()).errors()`).
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct ErrorsOf<E: ?Sized>(std::marker::PhantomData<fn() -> Box<E>>);

impl<E: ?Sized> ErrorsOf<E> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ErrorsOf(std::marker::PhantomData)
    }
}

/// `E` declares its errors.
#[doc(hidden)]
pub trait ViaDeclared {
    fn errors(&self, schemas: &mut Schemas) -> Vec<ErrorInfo>;
}

impl<E: DeclaredErrors + ?Sized> ViaDeclared for ErrorsOf<E> {
    fn errors(&self, schemas: &mut Schemas) -> Vec<ErrorInfo> {
        E::declared(schemas)
    }
}

/// `E` declares nothing (picked only when `E` is not [`DeclaredErrors`]).
#[doc(hidden)]
pub trait ViaNothing {
    fn errors(&self, schemas: &mut Schemas) -> Vec<ErrorInfo>;
}

impl<E: ?Sized> ViaNothing for &ErrorsOf<E> {
    fn errors(&self, _: &mut Schemas) -> Vec<ErrorInfo> {
        Vec::new()
    }
}
