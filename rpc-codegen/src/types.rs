//! JSON Schema (draft 7, as OpenRPC documents carry it) to TypeScript types.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The TypeScript names of the document's `components/schemas`.
pub(crate) struct Names {
    by_schema: BTreeMap<String, String>,
}

/// Names the generated module uses itself: a schema may not take them.
const TAKEN: &[&str] = &[
    // TypeScript's own type names and the globals the runtime uses.
    "string",
    "number",
    "boolean",
    "object",
    "symbol",
    "bigint",
    "unknown",
    "never",
    "any",
    "void",
    "undefined",
    "null",
    "Record",
    "Promise",
    "Array",
    "Map",
    "Set",
    "WebSocket",
    "MessageEvent",
    "AsyncIterable",
    "AsyncIterator",
    "IteratorResult",
    "Error",
    "Response",
    "Object",
    "String",
    "Number",
    "Boolean",
    "Date",
    "Partial",
    "Required",
    "Readonly",
    "Pick",
    "Omit",
    "Exclude",
    "Extract",
    "NonNullable",
    "ReturnType",
    "Function",
    "Symbol",
    "JSON",
    "AbortSignal",
    // The module's own.
    "Client",
    "Batch",
    "BatchCall",
    "BatchResults",
    "RpcError",
    "ClientOptions",
    "Subscription",
    "Connection",
    "Items",
    "Wire",
    "Answer",
];

impl Names {
    pub(crate) fn new(schemas: Option<&Map<String, Value>>) -> Names {
        let mut by_schema = BTreeMap::new();
        let mut used: Vec<String> = TAKEN.iter().map(|s| (*s).to_owned()).collect();
        let names: Vec<&String> = schemas.into_iter().flat_map(|s| s.keys()).collect();
        // Names that are free keep them; the others then take what is left.
        let mut clashing = Vec::new();
        for name in names {
            let ts = type_identifier(name);
            if used.contains(&ts) {
                clashing.push(name);
            } else {
                used.push(ts.clone());
                by_schema.insert(name.clone(), ts);
            }
        }
        for name in clashing {
            let mut ts = type_identifier(name);
            while used.contains(&ts) {
                ts.push_str("Schema");
            }
            used.push(ts.clone());
            by_schema.insert(name.clone(), ts);
        }
        Names { by_schema }
    }

    /// The TypeScript name of schema `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.by_schema.get(name).map(String::as_str)
    }
}

/// A schema name as a TypeScript type name: the same name when it is a
/// valid identifier; else letters, digits, `_` and `$` kept (each word
/// capitalized), anything else dropped, a leading digit prefixed.
pub(crate) fn type_identifier(name: &str) -> String {
    if is_identifier(name) {
        return name.to_owned();
    }
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            if upper {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// Whether `name` can be written bare as a property or identifier.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A property key: bare when it can be, else quoted.
pub(crate) fn property_key(name: &str) -> String {
    if is_identifier(name) {
        name.to_owned()
    } else {
        Value::String(name.to_owned()).to_string()
    }
}

/// A doc comment at `indent`, or nothing.
pub(crate) fn doc(text: Option<&str>, indent: &str) -> String {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return String::new();
    };
    let text = text.replace("*/", "*\\/");
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() == 1 {
        return format!("{indent}/** {} */\n", lines[0]);
    }
    let mut out = format!("{indent}/**\n");
    for line in lines {
        if line.trim().is_empty() {
            out.push_str(&format!("{indent} *\n"));
        } else {
            out.push_str(&format!("{indent} * {line}\n"));
        }
    }
    out.push_str(&format!("{indent} */\n"));
    out
}

/// How deep inline schemas may nest before they are `unknown`.
const DEPTH: usize = 24;

/// Writes schemas as TypeScript types.
pub(crate) struct Types<'a> {
    pub(crate) names: &'a Names,
}

impl Types<'_> {
    /// The TypeScript type of `schema`, laid out at `indent`.
    pub(crate) fn of(&self, schema: &Value, indent: &str) -> String {
        self.render(schema, indent, 0)
    }

    fn render(&self, schema: &Value, indent: &str, depth: usize) -> String {
        let object = match schema {
            Value::Bool(true) => return "unknown".into(),
            Value::Bool(false) => return "never".into(),
            Value::Object(object) => object,
            _ => return "unknown /* not a schema */".into(),
        };
        if depth > DEPTH {
            return "unknown /* nested too deep */".into();
        }
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return match reference
                .strip_prefix("#/components/schemas/")
                .and_then(|name| self.names.get(name))
            {
                Some(name) => name.to_owned(),
                None => format!("unknown /* {} */", comment(reference)),
            };
        }
        if let Some(value) = object.get("const") {
            return literal(value);
        }
        if let Some(values) = object.get("enum").and_then(Value::as_array) {
            let literals: Vec<String> = values.iter().map(literal).collect();
            return if literals.is_empty() {
                "never".into()
            } else {
                literals.join(" | ")
            };
        }
        for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
            if let Some(parts) = object.get(key).and_then(Value::as_array) {
                // Members inherit what the schema says besides (a `type`,
                // shared `properties`): written as an intersection.
                let base = without(
                    object,
                    &[key, "description", "title", "default", "examples"],
                );
                let rendered: Vec<String> = parts
                    .iter()
                    .map(|p| wrap(&self.render(p, indent, depth + 1)))
                    .collect();
                let joined = if rendered.is_empty() {
                    "unknown".into()
                } else {
                    rendered.join(joiner)
                };
                return if has_shape(&base) {
                    format!(
                        "{} & ({joined})",
                        wrap(&self.render(&Value::Object(base), indent, depth + 1))
                    )
                } else {
                    joined
                };
            }
        }
        match object.get("type") {
            Some(Value::String(kind)) => self.typed(kind, object, indent, depth),
            Some(Value::Array(kinds)) => {
                let rendered: Vec<String> = kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|k| wrap(&self.typed(k, object, indent, depth)))
                    .collect();
                if rendered.is_empty() {
                    "unknown".into()
                } else {
                    rendered.join(" | ")
                }
            }
            _ if object.contains_key("properties")
                || object.contains_key("additionalProperties") =>
            {
                self.typed("object", object, indent, depth)
            }
            _ if object.contains_key("items") => self.typed("array", object, indent, depth),
            _ => {
                let unsupported: Vec<&str> = ["not", "if", "then", "else", "patternProperties"]
                    .into_iter()
                    .filter(|k| object.contains_key(*k))
                    .collect();
                if unsupported.is_empty() {
                    "unknown".into()
                } else {
                    format!("unknown /* {} */", unsupported.join(", "))
                }
            }
        }
    }

    fn typed(&self, kind: &str, object: &Map<String, Value>, indent: &str, depth: usize) -> String {
        match kind {
            "string" => "string".into(),
            "integer" | "number" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => match object.get("items") {
                Some(Value::Array(items)) => {
                    let members: Vec<String> = items
                        .iter()
                        .map(|i| self.render(i, indent, depth + 1))
                        .collect();
                    format!("[{}]", members.join(", "))
                }
                Some(items) => {
                    let item = self.render(items, indent, depth + 1);
                    if is_simple(&item) {
                        format!("{item}[]")
                    } else {
                        format!("Array<{item}>")
                    }
                }
                None => "unknown[]".into(),
            },
            "object" => self.object(object, indent, depth),
            other => format!("unknown /* type {} */", comment(other)),
        }
    }

    fn object(&self, object: &Map<String, Value>, indent: &str, depth: usize) -> String {
        let properties = object.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let extra = match object.get("additionalProperties") {
            Some(Value::Bool(false)) => None,
            Some(schema @ Value::Object(_)) => Some(self.render(schema, indent, depth + 1)),
            _ => None,
        };
        let Some(properties) = properties.filter(|p| !p.is_empty()) else {
            return match extra {
                Some(values) => format!("Record<string, {values}>"),
                None if object.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    "Record<string, never>".into()
                }
                None => "Record<string, unknown>".into(),
            };
        };
        let inner = format!("{indent}  ");
        let mut out = String::from("{\n");
        for (name, schema) in properties {
            let description = schema.get("description").and_then(Value::as_str);
            out.push_str(&doc(description, &inner));
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            out.push_str(&format!(
                "{inner}{}{optional}: {};\n",
                property_key(name),
                self.render(schema, &inner, depth + 1)
            ));
        }
        if extra.is_some() {
            // Named properties must fit the index signature: any value.
            out.push_str(&format!("{inner}[key: string]: unknown;\n"));
        }
        out.push_str(indent);
        out.push('}');
        out
    }
}

/// A JSON value as a TypeScript literal type.
fn literal(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => value.to_string(),
        _ => "unknown /* a structured constant */".into(),
    }
}

/// `text` safe inside a block comment.
fn comment(text: &str) -> String {
    text.replace("*/", "* /")
}

/// `object` without `keys`.
fn without(object: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    object
        .iter()
        .filter(|(k, _)| !keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Whether a schema says something about its value's shape.
fn has_shape(object: &Map<String, Value>) -> bool {
    [
        "type",
        "properties",
        "items",
        "additionalProperties",
        "required",
    ]
    .iter()
    .any(|k| object.contains_key(*k))
}

/// A type that can take `[]` without parentheses.
fn is_simple(ty: &str) -> bool {
    ty.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A type, parenthesized when it is a union or intersection.
fn wrap(ty: &str) -> String {
    let top_level = {
        let mut depth = 0i32;
        let mut found = false;
        let mut in_comment = false;
        let bytes = ty.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'/' if bytes.get(i + 1) == Some(&b'*') => in_comment = true,
                b'*' if bytes.get(i + 1) == Some(&b'/') => in_comment = false,
                b'{' | b'[' | b'(' | b'<' if !in_comment => depth += 1,
                b'}' | b']' | b')' | b'>' if !in_comment => depth -= 1,
                b'|' | b'&' if depth == 0 && !in_comment => found = true,
                _ => {}
            }
            i += 1;
        }
        found
    };
    if top_level {
        format!("({ty})")
    } else {
        ty.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_keep_their_own_name_when_they_can() {
        assert_eq!(type_identifier("Stats"), "Stats");
        assert_eq!(type_identifier("stats_v2"), "stats_v2");
        assert_eq!(type_identifier("my-type"), "MyType");
        assert_eq!(type_identifier("1st"), "T1st");
        let schemas: Map<String, Value> =
            serde_json::from_str(r#"{"Client": {}, "ClientSchema": {}, "x": {}}"#).unwrap();
        let names = Names::new(Some(&schemas));
        assert_eq!(names.get("Client"), Some("ClientSchemaSchema"));
        assert_eq!(names.get("ClientSchema"), Some("ClientSchema"));
        assert_eq!(names.get("x"), Some("x"));
    }

    #[test]
    fn what_typescript_cannot_say_is_unknown_with_a_comment() {
        let names = Names::new(None);
        let types = Types { names: &names };
        let of = |schema: Value| types.of(&schema, "");
        assert_eq!(
            of(serde_json::json!({"not": {"type": "string"}})),
            "unknown /* not */"
        );
        assert_eq!(
            of(serde_json::json!({"$ref": "#/elsewhere/X*/"})),
            "unknown /* #/elsewhere/X* / */"
        );
        assert_eq!(
            of(serde_json::json!({"type": ["integer", "null"]})),
            "number | null"
        );
        assert_eq!(
            of(serde_json::json!({"type": "array", "items": {"type": ["string", "null"]}})),
            "Array<string | null>"
        );
        assert_eq!(
            of(
                serde_json::json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]})
            ),
            "[string, number]"
        );
        assert_eq!(of(serde_json::json!({"enum": ["a", 2]})), "\"a\" | 2");
    }
}
