//! Names in the generated module. Every name a document brings goes where
//! TypeScript, JavaScript or the runtime may reserve it, so each place has
//! its own list of what is taken there, and a [`Scope`] hands out names that
//! are free: a name keeps itself when it can, and otherwise gets a suffix
//! (`_` or `Schema`, then a number: `then_`, `then_2`, ...).
//!
//! Renaming is linear: a set of taken names, and per name the next number to
//! try, so a thousand names that all want `x` cost a thousand steps, not a
//! million, and never grow by a character per clash.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

/// Words JavaScript reserves (in strict mode and in modules, which generated
/// code is), and the two it forbids as a parameter: not an identifier there.
pub(crate) const RESERVED_WORDS: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    // Strict mode.
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "arguments",
    "eval",
];

/// Words that are something else where a type is expected: TypeScript's
/// own types and type operators (`x: keyof` does not name a type `keyof`).
const TYPE_WORDS: &[&str] = &[
    "any",
    "as",
    "asserts",
    "abstract",
    "bigint",
    "boolean",
    "infer",
    "intrinsic",
    "is",
    "keyof",
    "never",
    "number",
    "object",
    "out",
    "readonly",
    "satisfies",
    "string",
    "symbol",
    "type",
    "undefined",
    "unique",
    "unknown",
];

/// Type names the module uses: the runtime's globals and its own types. A
/// schema of one of these names would hide it from the runtime.
pub(crate) const MODULE_TYPES: &[&str] = &[
    // The globals the runtime uses.
    "Record",
    "Promise",
    "Array",
    "Map",
    "ReadonlyMap",
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
    "BigInt",
    "TypeError",
    "Math",
    "Infinity",
    "AbortController",
    "TextDecoder",
    "Uint8Array",
    "ReadableStreamDefaultReader",
    // The module's own.
    "Client",
    "Batch",
    "BatchCall",
    "BatchResults",
    "RpcError",
    "ErrorCode",
    "ClientOptions",
    "ReconnectOptions",
    "Subscription",
    "Connection",
    "Items",
    "Wire",
    "Answer",
    "Places",
    "Parsed",
    "Waiter",
    "OpenSocket",
    "Inexact",
    "Entry",
    "StreamEvent",
    "EventStreamDecoder",
    "EventReader",
    "Refusal",
    "EventStream",
];

/// The runtime's function that makes positional params.
pub(crate) const POSITIONAL: &str = "__rpcPositional";
/// The runtime's function that makes named params.
pub(crate) const NAMED: &str = "__rpcNamed";
/// The runtime's function that makes a call's wire form.
pub(crate) const WIRE: &str = "__rpcWire";

/// The runtime's functions that generated methods call: a parameter of
/// one of these names would shadow it.
pub(crate) const RUNTIME_FUNCTIONS: &[&str] = &[POSITIONAL, NAMED, WIRE];

/// Values generated code writes by name: a parameter may not hide them.
const LITERALS: &[&str] = &["undefined"];

/// Members JavaScript itself looks up on any object: a method of one of
/// these names would change what the object is, not add a call to it
/// (`then` makes it awaitable, so `await client` would send an RPC `then`
/// and never resolve; `__proto__` replaces its prototype; `constructor` is
/// no method in a class; `toString`, `valueOf` and `toJSON` are called by
/// string conversion and `JSON.stringify`).
pub(crate) const OBJECT_MEMBERS: &[&str] = &[
    "then",
    "constructor",
    "__proto__",
    "prototype",
    "toString",
    "toLocaleString",
    "valueOf",
    "toJSON",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
];

/// The members of `Client` itself (`connection` is its private field).
pub(crate) const CLIENT_MEMBERS: &[&str] = &["close", "on", "batch", "connection"];

/// Names handed out in one place (a class, an object, a parameter list, the
/// module's types): each at most once, none of the reserved ones.
pub(crate) struct Scope {
    reserved: &'static [&'static [&'static str]],
    suffix: &'static str,
    taken: HashSet<String>,
    /// For a name that had to change: the number its next candidate takes.
    next: HashMap<String, u64>,
}

impl Scope {
    pub(crate) fn new(suffix: &'static str, reserved: &'static [&'static [&'static str]]) -> Scope {
        Scope {
            reserved,
            suffix,
            taken: HashSet::new(),
            next: HashMap::new(),
        }
    }

    fn is_free(&self, name: &str) -> bool {
        !self.taken.contains(name) && !self.reserved.iter().any(|list| list.contains(&name))
    }

    /// Takes `name` itself, if it is free.
    fn claim(&mut self, name: &str) -> bool {
        self.is_free(name) && self.taken.insert(name.to_owned())
    }

    /// A free name made from `base`: `base_`, then `base_2`, `base_3`, ...
    fn fresh(&mut self, base: &str) -> String {
        let first = format!("{base}{}", self.suffix);
        if self.claim(&first) {
            return first;
        }
        let mut next = self.next.get(base).copied().unwrap_or(2);
        let name = loop {
            let candidate = format!("{base}{}{next}", self.suffix);
            next += 1;
            if self.claim(&candidate) {
                break candidate;
            }
        };
        self.next.insert(base.to_owned(), next);
        name
    }

    /// Names for `wanted`, in order: those that are free keep themselves
    /// first, so that a renamed one never takes another's own name (a
    /// method `then` becomes `then_` unless a method `then_` exists).
    pub(crate) fn assign<S: AsRef<str>>(&mut self, wanted: &[S]) -> Vec<String> {
        let kept: Vec<bool> = wanted.iter().map(|w| self.claim(w.as_ref())).collect();
        wanted
            .iter()
            .zip(kept)
            .map(|(w, kept)| {
                if kept {
                    w.as_ref().to_owned()
                } else {
                    self.fresh(w.as_ref())
                }
            })
            .collect()
    }
}

/// The members of a class or object of methods: `top` for `Client` and
/// `Batch` (whose names mirror each other), else a namespace object.
pub(crate) fn member_scope(top: bool) -> Scope {
    if top {
        Scope::new("_", &[OBJECT_MEMBERS, CLIENT_MEMBERS])
    } else {
        Scope::new("_", &[OBJECT_MEMBERS])
    }
}

/// The identifiers of one method's parameters, in order: the name when it
/// is a valid identifier that is free there; otherwise letters, digits,
/// `_` and `$` kept and the rest `_`, a leading digit prefixed (`p2_1st`),
/// reserved words and the runtime's functions suffixed (`default_`,
/// `__rpcWire_`).
pub(crate) fn parameters(names: &[&str]) -> Vec<String> {
    let mut scope = Scope::new("_", &[RESERVED_WORDS, RUNTIME_FUNCTIONS, LITERALS]);
    // A name that is an identifier already keeps it before one made into it.
    let own: Vec<bool> = names
        .iter()
        .map(|name| is_identifier(name) && scope.claim(name))
        .collect();
    names
        .iter()
        .zip(own)
        .enumerate()
        .map(|(index, (name, own))| {
            if own {
                return (*name).to_owned();
            }
            let ident: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let ident = if is_identifier(&ident) {
                ident
            } else {
                format!("p{index}_{ident}")
            };
            if scope.claim(&ident) {
                ident
            } else {
                scope.fresh(&ident)
            }
        })
        .collect()
}

/// The TypeScript names of the document's `components/schemas`.
pub(crate) struct SchemaNames {
    by_schema: BTreeMap<String, String>,
    /// Every type name given, for more.
    scope: Scope,
}

impl SchemaNames {
    /// Names that are free keep them; the others then take what is left
    /// (`Client` becomes `ClientSchema`, `default` `defaultSchema`).
    pub(crate) fn new(schemas: Option<&Map<String, Value>>) -> SchemaNames {
        let names: Vec<&String> = schemas.into_iter().flat_map(|s| s.keys()).collect();
        let wanted: Vec<String> = names.iter().map(|n| type_identifier(n)).collect();
        let mut scope = Scope::new("Schema", &[RESERVED_WORDS, TYPE_WORDS, MODULE_TYPES]);
        let given = scope.assign(&wanted);
        SchemaNames {
            by_schema: names.into_iter().cloned().zip(given).collect(),
            scope,
        }
    }

    /// Names for more types (not schemas), none taken already.
    pub(crate) fn more(&mut self, wanted: &[String]) -> Vec<String> {
        self.scope.assign(wanted)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_keep_their_own_name_when_they_can() {
        assert_eq!(type_identifier("Stats"), "Stats");
        assert_eq!(type_identifier("stats_v2"), "stats_v2");
        assert_eq!(type_identifier("my-type"), "MyType");
        assert_eq!(type_identifier("1st"), "T1st");
        let schemas: Map<String, Value> = serde_json::from_str(
            r#"{"Client": {}, "ClientSchema": {}, "x": {}, "default": {}, "keyof": {}, "then": {}}"#,
        )
        .unwrap();
        let names = SchemaNames::new(Some(&schemas));
        assert_eq!(names.get("Client"), Some("ClientSchema2"));
        assert_eq!(names.get("ClientSchema"), Some("ClientSchema"));
        assert_eq!(names.get("x"), Some("x"));
        assert_eq!(names.get("default"), Some("defaultSchema"));
        assert_eq!(names.get("keyof"), Some("keyofSchema"));
        assert_eq!(names.get("then"), Some("then"));
    }

    #[test]
    fn members_javascript_looks_up_are_renamed_and_others_keep_their_names() {
        let given = member_scope(true).assign(&[
            "then",
            "then_",
            "constructor",
            "__proto__",
            "close",
            "toString",
            "delete",
            "class",
        ]);
        assert_eq!(
            given,
            [
                "then_2",
                "then_",
                "constructor_",
                "__proto___",
                "close_",
                "toString_",
                "delete",
                "class"
            ]
        );
        // Only the client's top level has `close`.
        assert_eq!(
            member_scope(false).assign(&["close", "then"]),
            ["close", "then_"]
        );
    }

    #[test]
    fn parameters_never_take_a_reserved_word_or_a_runtime_function() {
        assert_eq!(
            parameters(&[
                "default",
                "__rpcWire",
                "__rpcPositional",
                "a-b",
                "a_b",
                "a.b",
                "1st",
                "this",
                ""
            ]),
            [
                "default_",
                "__rpcWire_",
                "__rpcPositional_",
                "a_b_",
                "a_b",
                "a_b_2",
                "p6_1st",
                "this_",
                "p8_"
            ]
        );
    }

    #[test]
    fn many_names_wanting_one_are_renamed_in_linear_time_and_length() {
        let wanted: Vec<String> = (0..20_000).map(|i| "x".repeat(1 + i % 2)).collect();
        let given = member_scope(false).assign(&wanted);
        let unique: HashSet<&String> = given.iter().collect();
        assert_eq!(unique.len(), given.len());
        assert!(given.iter().all(|g| g.len() < 10), "{:?}", given.last());
    }

    /// Every name the runtime declares, and every global type it uses, is
    /// one a schema or a parameter cannot take.
    #[test]
    fn the_runtimes_own_names_are_all_reserved() {
        let runtime = include_str!("runtime.ts");
        let code = code_only(runtime);
        let mut words = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .filter(|w| !w.is_empty());
        let mut functions = Vec::new();
        while let Some(word) = words.next() {
            if word == "function" {
                functions.extend(words.next());
            }
        }
        for function in &functions {
            let called_by_methods = function.starts_with("__rpc");
            assert!(
                !called_by_methods || RUNTIME_FUNCTIONS.contains(function),
                "runtime function {function} is not in RUNTIME_FUNCTIONS"
            );
        }
        assert_eq!(
            functions.iter().filter(|f| f.starts_with("__rpc")).count(),
            RUNTIME_FUNCTIONS.len()
        );
        // Words in capitals are keys of `ErrorCode`, not types.
        let types: HashSet<&str> = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .filter(|w| w.len() > 1 && w.starts_with(|c: char| c.is_ascii_uppercase()))
            .filter(|w| w.contains(|c: char| c.is_ascii_lowercase()))
            .collect();
        for ty in types {
            assert!(
                MODULE_TYPES.contains(&ty),
                "{ty} (used by the runtime) is not in MODULE_TYPES"
            );
        }
    }

    /// TypeScript text without comments, string and template literals.
    fn code_only(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                    out.push('\n');
                }
                '/' if chars.peek() == Some(&'*') => {
                    let mut last = ' ';
                    for c in chars.by_ref() {
                        if last == '*' && c == '/' {
                            break;
                        }
                        last = c;
                    }
                    out.push(' ');
                }
                '"' | '`' => {
                    let mut escaped = false;
                    for d in chars.by_ref() {
                        if d == c && !escaped {
                            break;
                        }
                        escaped = d == '\\' && !escaped;
                    }
                    out.push_str("\"\"");
                }
                _ => out.push(c),
            }
        }
        out
    }
}
