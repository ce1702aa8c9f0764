//! Service discovery: an OpenRPC document built from the method table.

use serde_json::{json, Map, Value};

use crate::server::schema::Schemas;
use crate::server::{MethodInfo, MethodTable};

/// The reserved method that returns the OpenRPC document.
pub const METHOD: &str = "rpc.discover";

/// The OpenRPC document describing every method of `table`.
///
/// Schemas come from the types themselves when `#[rpc]` registered the
/// methods (see [`schema`](crate::server::schema): with the `schema` feature,
/// complete JSON Schemas, named types under `components/schemas`);
/// methods registered by hand are described from their types' names.
/// Extension fields: `x-subscription` (a subscription's notification,
/// unsubscribe method and item schema), `x-requires` (the role a caller
/// needs), `x-notification` (called without an id), `x-idempotent` (safe
/// to send twice), `x-aliases` (other names of the method), `x-notifies`
/// (the notifications the method pushes to clients).
pub fn document(table: &MethodTable) -> Value {
    let mut schemas = Schemas::new();
    let mut methods: Vec<Value> = table
        .methods()
        .map(|info| method(info, &mut schemas))
        .collect();
    if !schemas.undescribed_types().is_empty() {
        tracing::warn!(
            types = ?schemas.undescribed_types(),
            "the OpenRPC document describes these types as any value: derive schemars::JsonSchema for them"
        );
    }
    let (components, renamed) = schemas.into_components();
    for method in &mut methods {
        // Results and items were described as written.
        if let Some(result) = method.pointer_mut("/result/schema") {
            renamed.apply(result);
        }
        if let Some(item) = method.pointer_mut("/x-subscription/item") {
            renamed.apply(item);
        }
    }
    let info = match table.info() {
        Some(info) => {
            let mut out = Map::new();
            out.insert("title".into(), json!(info.title));
            out.insert("version".into(), json!(info.version));
            if let Some(d) = info.description.as_deref().filter(|d| !d.is_empty()) {
                out.insert("description".into(), json!(d));
            }
            Value::Object(out)
        }
        None => json!({ "title": "JSON-RPC API", "version": "0.0.0" }),
    };
    let mut document = json!({
        "openrpc": "1.3.2",
        "info": info,
        "methods": methods,
    });
    if !components.is_empty() {
        document["components"] = json!({ "schemas": components });
    }
    document
}

fn method(info: &MethodInfo, schemas: &mut Schemas) -> Value {
    let described = info.describe.map(|describe| (describe.0)(schemas));
    let params: Vec<Value> = info
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let schema = described
                .as_ref()
                .and_then(|d| d.params.get(i).cloned())
                .unwrap_or_else(|| schema(&p.ty));
            let mut param = Map::new();
            param.insert("name".into(), json!(p.name));
            if let Some(d) = &p.description {
                param.insert("description".into(), json!(d));
            }
            param.insert("required".into(), json!(p.required));
            param.insert("schema".into(), schema);
            Value::Object(param)
        })
        .collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(info.name));
    if let Some(d) = &info.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("params".into(), Value::Array(params));
    if info.params_object {
        // The one parameter is the whole params object: it goes by name,
        // its fields being the names.
        m.insert("paramStructure".into(), json!("by-name"));
        m.insert("x-params-object".into(), json!(true));
    } else {
        m.insert("paramStructure".into(), json!("either"));
    }
    let result = described
        .as_ref()
        .and_then(|d| d.result.clone())
        .or_else(|| info.result.as_deref().map(schema));
    if let Some(result) = result {
        m.insert(
            "result".into(),
            json!({ "name": "result", "schema": result }),
        );
    }
    if let Some(errors) = described
        .as_ref()
        .map(|d| &d.errors)
        .filter(|e| !e.is_empty())
    {
        let listed: Vec<Value> = errors
            .iter()
            .map(|e| json!({ "code": e.code, "message": e.message }))
            .collect();
        m.insert("errors".into(), Value::Array(listed));
        // OpenRPC's error object has no place for a schema (its `data` is a
        // value, and it takes no extension fields): the method's
        // `x-error-data` maps each code to the schema of its `data`.
        let data: Map<String, Value> = errors
            .iter()
            .filter_map(|e| Some((e.code.to_string(), e.data.clone()?)))
            .collect();
        if !data.is_empty() {
            m.insert("x-error-data".into(), Value::Object(data));
        }
    }
    if !info.aliases.is_empty() {
        m.insert("x-aliases".into(), json!(info.aliases));
    }
    if !info.notifies.is_empty() {
        m.insert("x-notifies".into(), json!(info.notifies));
    }
    if let Some(sub) = &info.subscription {
        let mut x = Map::new();
        x.insert("notification".into(), json!(sub.notification));
        x.insert("unsubscribe".into(), json!(sub.unsubscribe));
        if let Some(item) = described.as_ref().and_then(|d| d.item.clone()) {
            x.insert("item".into(), item);
        }
        m.insert("x-subscription".into(), Value::Object(x));
    }
    if let Some(role) = &info.requires {
        m.insert("x-requires".into(), json!(role));
    }
    if info.notification {
        m.insert("x-notification".into(), json!(true));
    }
    if info.idempotent {
        m.insert("x-idempotent".into(), json!(true));
    }
    Value::Object(m)
}

/// A JSON Schema for a Rust type written as text (e.g. `Option<Vec<i64>>`).
fn schema(ty: &str) -> Value {
    let ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let last = |t: &str| t.rsplit("::").next().unwrap_or(t).to_owned();
    if let Some(inner) = generic_arg(&ty, "Option") {
        return schema(inner);
    }
    if let Some(inner) = generic_arg(&ty, "Vec").or_else(|| slice_elem(&ty)) {
        return json!({ "type": "array", "items": schema(inner) });
    }
    let kind = match last(&ty).as_str() {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "integer",
        "f32" | "f64" => "number",
        "String" | "str" | "&str" | "char" => "string",
        "bool" => "boolean",
        "()" => "null",
        "Value" => return json!({}),
        other => return json!({ "title": other }),
    };
    json!({ "type": kind })
}

fn generic_arg<'t>(ty: &'t str, name: &str) -> Option<&'t str> {
    let start = ty.find('<')?;
    let head = &ty[..start];
    if head.rsplit("::").next()? != name {
        return None;
    }
    ty[start + 1..].strip_suffix('>')
}

fn slice_elem(ty: &str) -> Option<&str> {
    let inner = ty.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split(';').next().unwrap_or(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_follow_rust_types() {
        assert_eq!(
            schema("Option<Vec<i64>>"),
            json!({"type":"array","items":{"type":"integer"}})
        );
        assert_eq!(schema("std::string::String"), json!({"type":"string"}));
        assert_eq!(schema("MyType"), json!({"title":"MyType"}));
    }
}
