//! JSON Schema (draft 7, as OpenRPC documents carry it) to TypeScript types.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::names::{property_key, SchemaNames};

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
pub(crate) const DEPTH: usize = 24;

/// The largest integer a JavaScript `number` holds exactly: 2^53 - 1.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The `format`s of integers that can exceed 2^53 - 1, as schemars writes
/// them: `i64`, `u64`, `i128`, `u128`, and `isize` and `usize`.
const WIDE_FORMATS: &[&str] = &["int64", "uint64", "int128", "uint128", "int", "uint"];

/// Whether the integers of `object` can exceed 2^53 - 1 (either way), so
/// that a `number` would round them: a `minimum` or `maximum` beyond it, or
/// a wide `format` that bounds within it do not narrow.
pub(crate) fn is_wide_integer(object: &Map<String, Value>) -> bool {
    let bound = |keys: [&str; 2]| keys.iter().find_map(|k| object.get(*k)?.as_f64());
    let bounds = [
        bound(["minimum", "exclusiveMinimum"]),
        bound(["maximum", "exclusiveMaximum"]),
    ];
    if bounds.iter().flatten().any(|b| b.abs() > MAX_SAFE_INTEGER) {
        return true;
    }
    let wide = object
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| WIDE_FORMATS.contains(&f));
    wide && bounds.iter().any(Option::is_none)
}

/// Where a type is written: a method's parameter takes a `number` too where
/// the type is `bigint` (one that is an integer below 2^53 is exact), a
/// result or schema type is what the client reads.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Param,
    Value,
}

/// Writes schemas as TypeScript types.
pub(crate) struct Types<'a> {
    pub(crate) names: &'a SchemaNames,
    /// Wide integers as `bigint` (else `number`).
    pub(crate) bigint: bool,
}

impl Types<'_> {
    /// The TypeScript type of `schema`, laid out at `indent`.
    pub(crate) fn of(&self, schema: &Value, indent: &str) -> String {
        self.render(schema, indent, 0, Role::Value)
    }

    /// The type of a method's parameter: as [`Types::of`], but where its
    /// value itself (or a member of its union) is a `bigint`, a `number`
    /// will do too (`client.subtract(42, 23)`).
    pub(crate) fn param(&self, schema: &Value, indent: &str) -> String {
        self.render(schema, indent, 0, Role::Param)
    }

    fn render(&self, schema: &Value, indent: &str, depth: usize, role: Role) -> String {
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
                    .map(|p| wrap(&self.render(p, indent, depth + 1, role)))
                    .collect();
                let joined = if rendered.is_empty() {
                    "unknown".into()
                } else {
                    rendered.join(joiner)
                };
                return if has_shape(&base) {
                    format!(
                        "{} & ({joined})",
                        wrap(&self.render(&Value::Object(base), indent, depth + 1, role))
                    )
                } else {
                    joined
                };
            }
        }
        match object.get("type") {
            Some(Value::String(kind)) => self.typed(kind, object, indent, depth, role),
            Some(Value::Array(kinds)) => {
                // Each kind once: `["array", "array"]` at every level would
                // write the items twice as often at each. No kind's type
                // is an intersection: none needs parentheses in a union.
                let mut seen = HashSet::new();
                let rendered: Vec<String> = kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|k| seen.insert(*k))
                    .map(|k| self.typed(k, object, indent, depth, role))
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
                self.typed("object", object, indent, depth, role)
            }
            _ if object.contains_key("items") => self.typed("array", object, indent, depth, role),
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

    fn typed(
        &self,
        kind: &str,
        object: &Map<String, Value>,
        indent: &str,
        depth: usize,
        role: Role,
    ) -> String {
        match kind {
            "string" => "string".into(),
            "integer" if self.bigint && is_wide_integer(object) => match role {
                Role::Param => "bigint | number".into(),
                Role::Value => "bigint".into(),
            },
            "integer" | "number" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => match object.get("items") {
                Some(Value::Array(items)) => {
                    let members: Vec<String> = items
                        .iter()
                        .map(|i| self.render(i, indent, depth + 1, Role::Value))
                        .collect();
                    format!("[{}]", members.join(", "))
                }
                Some(items) => {
                    let item = self.render(items, indent, depth + 1, Role::Value);
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
            Some(schema @ Value::Object(_)) => {
                Some(self.render(schema, indent, depth + 1, Role::Value))
            }
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
                self.render(schema, &inner, depth + 1, Role::Value)
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
    fn what_typescript_cannot_say_is_unknown_with_a_comment() {
        let names = SchemaNames::new(None);
        let types = Types {
            names: &names,
            bigint: true,
        };
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
            of(serde_json::json!({"type": ["integer", "null", "integer"]})),
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
