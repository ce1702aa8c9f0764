//! Where a value holds integers the client reads as `bigint`: the map the
//! runtime's decoder follows (its `Places`), so that only the places the
//! module types `bigint` are read exactly, and every other number is read as
//! before. It walks a schema as [`Types`](crate::types::Types) writes it.
//!
//! A map is JSON (an object literal in the module, contextually typed):
//! `{"n":true}` a `bigint` here; `"p":[[KEY, MAP], ...]` in these
//! properties (pairs, so that a property `__proto__` is one); `"i"` in every
//! item; `"t":[MAP or null, ...]` in the items by position; `"v"` in the
//! values of other keys (a record); `"a":[MAP, ...]` each of a union's
//! members; `"r":NAME` what the schema of that type name says. A schema
//! with no such integer has no map, and a `$ref` to one is left out, so
//! most methods carry none.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::names::SchemaNames;
use crate::types::{is_wide_integer, DEPTH};

/// The maps of a document's schemas.
pub(crate) struct Places<'a> {
    names: &'a SchemaNames,
    /// The schemas (by their name in the document) whose values hold a
    /// `bigint`, themselves or through their `$ref`s.
    live: HashSet<&'a str>,
}

impl<'a> Places<'a> {
    /// Finds which of `schemas` hold a `bigint`: those that do themselves,
    /// then, through each `$ref` backwards, those that refer to one. Linear:
    /// each schema is walked once, each `$ref` followed once.
    pub(crate) fn new(
        schemas: Option<&'a Map<String, Value>>,
        names: &'a SchemaNames,
    ) -> Places<'a> {
        let mut places = Places {
            names,
            live: HashSet::new(),
        };
        let mut referrers: HashMap<String, Vec<&str>> = HashMap::new();
        let mut work = Vec::new();
        for (name, schema) in schemas.into_iter().flatten() {
            let mut refs = Vec::new();
            // With no schema live yet, a map comes only from the schema's own
            // integers.
            if places.build(schema, 0, &mut refs).is_some() {
                work.push(name.as_str());
            }
            for target in refs {
                referrers.entry(target).or_default().push(name);
            }
        }
        while let Some(name) = work.pop() {
            if places.live.insert(name) {
                work.extend(referrers.get(name).into_iter().flatten().copied());
            }
        }
        places
    }

    /// The map of `schema`, as JSON text; `None` when it holds no `bigint`.
    pub(crate) fn of(&self, schema: &Value) -> Option<String> {
        self.build(schema, 0, &mut Vec::new())
            .map(|map| map.to_string())
    }

    /// The maps of the schemas that hold a `bigint`, by type name, as the
    /// entries of a `Map` (`["Stats",{"p":...}]`).
    pub(crate) fn named(&self, schemas: Option<&Map<String, Value>>) -> Vec<String> {
        schemas
            .into_iter()
            .flatten()
            .filter(|(name, _)| self.live.contains(name.as_str()))
            .filter_map(|(name, schema)| {
                let ts = self.names.get(name)?;
                let map = self.build(schema, 0, &mut Vec::new())?;
                Some(Value::Array(vec![Value::String(ts.to_owned()), map]).to_string())
            })
            .collect()
    }

    /// The map of `schema`; the names of the schemas it refers to go into
    /// `refs`.
    fn build(&self, schema: &Value, depth: usize, refs: &mut Vec<String>) -> Option<Value> {
        let object = schema.as_object()?;
        if depth > DEPTH {
            return None;
        }
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/components/schemas/")?;
            refs.push(name.to_owned());
            let ts = self.names.get(name)?;
            return self.live.contains(name).then(|| json!({ "r": ts }));
        }
        if object.contains_key("const") || object.contains_key("enum") {
            return None;
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(parts) = object.get(key).and_then(Value::as_array) {
                let mut maps: Vec<Value> = parts
                    .iter()
                    .filter_map(|p| self.build(p, depth + 1, refs))
                    .collect();
                // What the schema says besides its members, as `Types` does.
                let base: Map<String, Value> = object
                    .iter()
                    .filter(|(k, _)| *k != key)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if let Some(map) = self.build(&Value::Object(base), depth + 1, refs) {
                    maps.push(map);
                }
                return match maps.len() {
                    0 => None,
                    1 => maps.pop(),
                    _ => Some(json!({ "a": maps })),
                };
            }
        }
        let kinds: Vec<&str> = match object.get("type") {
            Some(Value::String(kind)) => vec![kind.as_str()],
            Some(Value::Array(kinds)) => {
                let mut seen = HashSet::new();
                kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|k| seen.insert(*k))
                    .collect()
            }
            _ if object.contains_key("properties")
                || object.contains_key("additionalProperties") =>
            {
                vec!["object"]
            }
            _ if object.contains_key("items") => vec!["array"],
            _ => Vec::new(),
        };
        // Each kind says its own keys (`n`, `i`/`t`, `p`/`v`): one map.
        let mut map = Map::new();
        for kind in kinds {
            self.kind(kind, object, depth, refs, &mut map);
        }
        (!map.is_empty()).then_some(Value::Object(map))
    }

    fn kind(
        &self,
        kind: &str,
        object: &Map<String, Value>,
        depth: usize,
        refs: &mut Vec<String>,
        map: &mut Map<String, Value>,
    ) {
        match kind {
            "integer" if is_wide_integer(object) => {
                map.insert("n".into(), Value::Bool(true));
            }
            "array" => match object.get("items") {
                Some(Value::Array(items)) => {
                    let each: Vec<Option<Value>> = items
                        .iter()
                        .map(|i| self.build(i, depth + 1, refs))
                        .collect();
                    if each.iter().any(Option::is_some) {
                        let each = each.into_iter().map(|m| m.unwrap_or(Value::Null));
                        map.insert("t".into(), Value::Array(each.collect()));
                    }
                }
                Some(items) => {
                    if let Some(item) = self.build(items, depth + 1, refs) {
                        map.insert("i".into(), item);
                    }
                }
                None => {}
            },
            "object" => {
                let properties = object.get("properties").and_then(Value::as_object);
                match properties.filter(|p| !p.is_empty()) {
                    Some(properties) => {
                        let pairs: Vec<Value> = properties
                            .iter()
                            .filter_map(|(key, schema)| {
                                let inner = self.build(schema, depth + 1, refs)?;
                                Some(Value::Array(vec![Value::String(key.clone()), inner]))
                            })
                            .collect();
                        if !pairs.is_empty() {
                            map.insert("p".into(), Value::Array(pairs));
                        }
                    }
                    // Other keys' values are typed only in a record (a type
                    // with properties gives them `unknown`).
                    None => {
                        if let Some(values @ Value::Object(_)) = object.get("additionalProperties")
                        {
                            if let Some(values) = self.build(values, depth + 1, refs) {
                                map.insert("v".into(), values);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places_of(schemas: Value, schema: Value) -> (Option<String>, Vec<String>) {
        let schemas = schemas.as_object().cloned().unwrap_or_default();
        let names = SchemaNames::new(Some(&schemas));
        let places = Places::new(Some(&schemas), &names);
        (places.of(&schema), places.named(Some(&schemas)))
    }

    #[test]
    fn only_integers_beyond_two_to_the_53_have_places() {
        let of = |schema: Value| places_of(json!({}), schema).0;
        assert_eq!(
            of(json!({"type": "integer", "format": "int64"})).as_deref(),
            Some(r#"{"n":true}"#)
        );
        assert_eq!(
            of(json!({"type": "integer", "format": "uint64", "minimum": 0})).as_deref(),
            Some(r#"{"n":true}"#)
        );
        assert_eq!(
            of(json!({"type": ["integer", "null"], "format": "int128"})).as_deref(),
            Some(r#"{"n":true}"#)
        );
        assert_eq!(
            of(json!({"type": "integer", "maximum": 1e19})).as_deref(),
            Some(r#"{"n":true}"#)
        );
        assert_eq!(
            of(json!({"type": "integer", "minimum": -9007199254740992i64})).as_deref(),
            Some(r#"{"n":true}"#)
        );
        // Narrow enough, whatever the format says.
        assert_eq!(
            of(json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 100})),
            None
        );
        assert_eq!(
            of(json!({"type": "integer", "format": "uint32", "minimum": 0})),
            None
        );
        assert_eq!(of(json!({"type": "integer"})), None);
        assert_eq!(of(json!({"type": "number", "format": "int64"})), None);
        assert_eq!(
            of(json!({"type": "array", "items": [{"type": "string"}, {"type": "integer", "format": "int64"}]})).as_deref(),
            Some(r#"{"t":[null,{"n":true}]}"#)
        );
        assert_eq!(
            of(json!({"type": "object", "properties": {"__proto__": {"type": "integer", "format": "uint64"}, "s": {"type": "string"}}})).as_deref(),
            Some(r#"{"p":[["__proto__",{"n":true}]]}"#)
        );
        assert_eq!(
            of(json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer", "format": "int64"}}})).as_deref(),
            Some(r#"{"v":{"i":{"n":true}}}"#)
        );
        assert_eq!(
            of(json!({"anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}, {"type": "array", "items": {"type": "integer", "format": "int64"}}]})).as_deref(),
            Some(r#"{"a":[{"n":true},{"i":{"n":true}}]}"#)
        );
    }

    #[test]
    fn schemas_that_refer_to_a_bigint_have_places_and_the_others_none() {
        let schemas = json!({
            "Wide": {"type": "integer", "format": "int64"},
            "Tree": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                "size": {"$ref": "#/components/schemas/Wide"}
            }},
            "Forest": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
            "Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}, "s": {"type": "string"}}},
            "Narrow": {"type": "object", "properties": {"loop": {"$ref": "#/components/schemas/Loop"}}}
        });
        let (of, named) = places_of(schemas, json!({"$ref": "#/components/schemas/Forest"}));
        assert_eq!(of.as_deref(), Some(r#"{"r":"Forest"}"#));
        assert_eq!(
            named,
            [
                r#"["Forest",{"i":{"r":"Tree"}}]"#,
                r#"["Tree",{"p":[["children",{"i":{"r":"Tree"}}],["size",{"r":"Wide"}]]}]"#,
                r#"["Wide",{"n":true}]"#,
            ]
        );
    }
}
