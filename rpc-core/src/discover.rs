//! Service discovery: an OpenRPC document built from the method table.

use serde_json::{json, Map, Value};

use crate::{MethodInfo, MethodTable};

/// The reserved method that returns the OpenRPC document.
pub const METHOD: &str = "rpc.discover";

/// The OpenRPC document describing every method of `table`.
///
/// Parameter and result schemas come from the Rust types' names: integers,
/// floats, strings, booleans, `Vec`/arrays and `Option` map onto JSON Schema;
/// other types are described by name only.
pub fn document(table: &MethodTable) -> Value {
    let methods: Vec<Value> = table.methods().map(method).collect();
    json!({
        "openrpc": "1.3.2",
        "info": { "title": "JSON-RPC API", "version": env!("CARGO_PKG_VERSION") },
        "methods": methods,
    })
}

fn method(info: &MethodInfo) -> Value {
    let params: Vec<Value> = info
        .params
        .iter()
        .map(|p| json!({ "name": p.name, "required": p.required, "schema": schema(&p.ty) }))
        .collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(info.name));
    if let Some(d) = &info.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("params".into(), Value::Array(params));
    m.insert("paramStructure".into(), json!("either"));
    if let Some(result) = &info.result {
        m.insert(
            "result".into(),
            json!({ "name": "result", "schema": schema(result) }),
        );
    }
    if !info.aliases.is_empty() {
        m.insert("x-aliases".into(), json!(info.aliases));
    }
    if let Some(sub) = &info.subscription {
        m.insert(
            "x-subscription".into(),
            json!({ "notification": sub.notification, "unsubscribe": sub.unsubscribe }),
        );
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
