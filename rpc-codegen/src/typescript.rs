//! The TypeScript module: types, the runtime, `Client` and `Batch`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::names::{self, property_key, type_identifier, SchemaNames};
use crate::places::Places;
use crate::types::{doc, Types};
use crate::{Duplicate, Error};

/// The runtime every generated module carries (no dependencies).
const RUNTIME: &str = include_str!("runtime.ts");

/// A dotted name of more parts than this is one member under its full name
/// (`client["a.b.c....z"]`), not objects nested that deep: generating and
/// compiling them takes no recursion deeper than this.
pub(crate) const MAX_PARTS: usize = 16;

/// What every module says about its names (the crate docs say the same).
const NAMING: &str = "\
// Names: each JSON-RPC method is a method of `Client` (and of `Batch`) of the same name; a dotted
// name is nested objects (`math.multiply` is `client.math.multiply`), unless it has an empty part
// or more than 16 parts: then it is one member of its full name (`client[\"a..b\"]`). A member
// named like one JavaScript itself uses on objects (`then`, which would make the client awaitable,
// `constructor`, `__proto__`, `prototype`, `toString`, `valueOf`, `toJSON`, `hasOwnProperty`, ...)
// or like the client's own (`close`, `on`, `batch`, `connection`), or like a namespace beside it,
// takes a `_` (`client.then_()`), then a number if that is taken too (`then_2`). Parameters that
// are reserved words or the runtime's functions take a `_` too (`default_`), and schemas whose
// names are reserved words or TypeScript's own types take `Schema` (`default` is `defaultSchema`).
// Each method's documentation gives its name on the wire.
";

/// What every module says about integers (the crate docs say the same).
const INTEGERS: &str = "\
// Integers: one that can exceed 2^53 - 1, which a `number` cannot hold exactly (a schema's
// `format` int64, uint64, int128, uint128, int or uint, unless its `minimum` and `maximum` are
// both within 2^53 - 1; or a `minimum` or `maximum` beyond it), is a `bigint`: results,
// subscription items and the fields of the types below read it exactly, however large; a
// parameter of that type takes a `number` too. A `bigint` anywhere in params is sent as a bare
// JSON number. Every other integer, and any number in a value typed `unknown`, is a `number`.
";

/// What every module says about subscriptions (the crate docs say the same).
const SUBSCRIPTIONS: &str = "\
// Subscriptions: over ws(s):// on the WebSocket; over http(s):// each is an event stream of its
// own (server-sent events: the call POSTed with `Accept: text/event-stream`). A subscription
// method with a parameter `since` (a topic's) resumes after an event id: a reconnection makes
// it again from the last event id it received (`Last-Event-ID` too, over http(s)://), so that
// nothing is lost or repeated. See `Subscription` (`lastEvent`, `gaps`) and `ClientOptions.reconnect`.
";

/// One method, ready to write.
struct Method {
    /// The wire name.
    wire: String,
    description: Option<String>,
    params: Vec<Param>,
    /// `paramStructure: "by-name"`.
    by_name: bool,
    /// The result's type; `None` for a notification.
    result: Option<String>,
    /// For a subscription: the item type and the unsubscribe method.
    subscription: Option<(String, String)>,
    /// Where the result (a subscription's items) holds a `bigint`: the
    /// runtime's `Places`, as JSON.
    places: Option<String>,
}

struct Param {
    wire: String,
    ident: String,
    ty: String,
    optional: bool,
    description: Option<String>,
}

/// Anything: the schema of a parameter or result that gives none.
static ANY: Value = Value::Bool(true);

/// How long a content descriptor's type may be and still be written at each
/// use, when several use it.
const INLINE: usize = 256;

/// How the module is written.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Integers that can exceed 2^53 - 1 (schemars's `int64`, `uint64`,
    /// `int128`, `uint128`, `int`, `uint` formats, or bounds beyond it) are
    /// `bigint`, read and sent exactly (`rpc-codegen typescript --bigint`).
    /// Without it they are `number`, as every other integer, and an answer
    /// holding one that a `number` cannot hold exactly fails with -32603
    /// naming the value, instead of coming back rounded.
    pub bigint: bool,
}

impl Options {
    /// Options with 64-bit and larger integers as `bigint` (or not).
    pub fn bigint(mut self, on: bool) -> Self {
        self.bigint = on;
        self
    }
}

/// The TypeScript client module for an OpenRPC `document`, with the
/// default [`Options`] (integers are `number`).
///
/// Fails with [`Error::Duplicates`] when two methods share a name, or two
/// parameters of one method do.
pub fn typescript(document: &Value) -> Result<String, Error> {
    typescript_with(document, Options::default())
}

/// The TypeScript client module for an OpenRPC `document`, written as
/// `options` say.
pub fn typescript_with(document: &Value, options: Options) -> Result<String, Error> {
    let methods = document
        .get("methods")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::NotOpenRpc("no `methods` list".into()))?;
    let components = Components(document.get("components"));
    let schemas = components
        .0
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_object);
    let methods: Vec<(&str, &Value)> = methods
        .iter()
        .filter_map(|method| {
            let (method, _) = components.resolve(method, "methods");
            Some((method.get("name")?.as_str()?, method))
        })
        .collect();
    // Before anything is written: 4 000 `$ref`s to one large method are an
    // error at once, not 4 000 times its types.
    check_unique(&methods, &components)?;
    let mut names = SchemaNames::new(schemas);
    let shared = Shared::new(&methods, &components, &mut names, options.bigint);
    let types = Types {
        names: &names,
        bigint: options.bigint,
    };
    let places = Places::new(schemas, &names);
    // The type of a result: by name when shared.
    let type_of = |descriptor: &Value| -> String {
        let (resolved, reference) = components.resolve(descriptor, "contentDescriptors");
        match reference.and_then(|r| shared.by_reference.get(r)) {
            Some(name) => name.clone(),
            None => types.of(resolved.get("schema").unwrap_or(&ANY), "  "),
        }
    };
    // The type of a parameter: a `bigint` takes a `number` too.
    let param_type_of = |descriptor: &Value| -> String {
        let (resolved, reference) = components.resolve(descriptor, "contentDescriptors");
        match reference.and_then(|r| shared.by_reference.get(r)) {
            Some(name) => name.clone(),
            None => types.param(resolved.get("schema").unwrap_or(&ANY), "  "),
        }
    };
    // The maps of the shared descriptors that hold a `bigint`, by name.
    let shared_places: HashMap<&str, String> = shared
        .types
        .iter()
        .filter_map(|(ts, reference, _)| {
            let descriptor = components.0?.get("contentDescriptors")?.get(*reference)?;
            let map = places.of(descriptor.get("schema").unwrap_or(&ANY))?;
            Some((ts.as_str(), map))
        })
        .collect();
    // Where a result holds a `bigint`: by name when shared.
    let places_of = |descriptor: &Value| -> Option<String> {
        let (resolved, reference) = components.resolve(descriptor, "contentDescriptors");
        match reference.and_then(|r| shared.by_reference.get(r)) {
            Some(name) => shared_places
                .contains_key(name.as_str())
                .then(|| serde_json::json!({ "r": name }).to_string()),
            None => places.of(resolved.get("schema").unwrap_or(&ANY)),
        }
    };

    let mut described = Vec::new();
    for (wire, method) in methods {
        let raw_params: Vec<&Value> = method
            .get("params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let resolved: Vec<&Value> = raw_params
            .iter()
            .map(|p| components.resolve(p, "contentDescriptors").0)
            .collect();
        let wire_names: Vec<&str> = resolved.iter().map(|p| param_name(p)).collect();
        let idents = names::parameters(&wire_names);
        // By position, a parameter may be left out only if all after it may.
        let last_required = resolved
            .iter()
            .rposition(|p| p.get("required") == Some(&Value::Bool(true)));
        let mut params = Vec::new();
        for (i, ((raw, param), ident)) in raw_params.iter().zip(&resolved).zip(idents).enumerate() {
            let required = param.get("required") == Some(&Value::Bool(true));
            let mut ty = param_type_of(raw);
            let optional = !required && last_required.is_none_or(|last| i > last);
            if !required && !optional {
                ty = format!("{ty} | undefined");
            }
            params.push(Param {
                ident,
                wire: wire_names[i].to_owned(),
                ty,
                optional,
                description: param
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        let notification = method.get("x-notification") == Some(&Value::Bool(true))
            || method.get("result").is_none();
        let result = method.get("result").map(type_of);
        let mut result_places = method.get("result").and_then(places_of);
        let subscription = method.get("x-subscription").map(|x| {
            result_places = x.get("item").and_then(|i| places.of(i));
            let item = x
                .get("item")
                .map_or_else(|| "unknown".to_owned(), |i| types.of(i, "  "));
            let unsubscribe = x
                .get("unsubscribe")
                .and_then(Value::as_str)
                .unwrap_or("unsubscribe")
                .to_owned();
            (item, unsubscribe)
        });
        described.push(Method {
            wire: wire.to_owned(),
            description: method
                .get("description")
                .or_else(|| method.get("summary"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            params,
            by_name: method.get("paramStructure").and_then(Value::as_str) == Some("by-name"),
            result: if notification { None } else { result },
            places: if notification { None } else { result_places },
            subscription,
        });
    }

    let mut out = String::new();
    let title = document
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("a JSON-RPC service");
    let version = document
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    out.push_str(&format!(
        "// A typed client for {} {} (OpenRPC), generated by rpc-codegen: do not edit.\n",
        one_line(title),
        one_line(version)
    ));
    out.push_str("// Needs the `fetch` and `WebSocket` globals (browsers, node 22+, node 20 with --experimental-websocket).\n");
    out.push_str(SUBSCRIPTIONS);
    out.push_str(NAMING);
    out.push_str(INTEGERS);
    out.push('\n');

    if schemas.is_some_and(|s| !s.is_empty()) || !shared.types.is_empty() {
        out.push_str("// ---- Types ----\n\n");
    }
    for (name, schema) in schemas.into_iter().flatten() {
        let ts = names.get(name).unwrap_or(name);
        out.push_str(&doc(schema.get("description").and_then(Value::as_str), ""));
        out.push_str(&format!("export type {ts} = {};\n\n", types.of(schema, "")));
    }
    for (ts, reference, ty) in &shared.types {
        out.push_str(&doc(
            Some(&format!(
                "The schema of `#/components/contentDescriptors/{reference}`, which several methods use."
            )),
            "",
        ));
        out.push_str(&format!("export type {ts} = {ty};\n\n"));
    }
    out.push_str(&format!(
        "/** Whether integers beyond 2^53 - 1 are `bigint` (`rpc-codegen typescript --bigint`). */\nconst __rpcBigints: boolean = {};\n\n",
        options.bigint
    ));
    out.push_str(RUNTIME);
    let mut named = places.named(schemas);
    named.extend(shared.types.iter().filter_map(|(ts, _, _)| {
        Some(format!(
            "[{},{}]",
            Value::String(ts.clone()),
            shared_places.get(ts.as_str())?
        ))
    }));
    out.push_str(&format!(
        "\n/** Where the values of the types above hold a `bigint` (see Integers at the top). */\nconst __rpcPlaces = new Map<string, Places>([{}]);\n",
        named.join(", ")
    ));

    let tree = Tree::new(&described);
    out.push_str("\n// ---- The service ----\n\n");
    out.push_str(&format!(
        "{}export class Client {{\n  private readonly connection: Connection;\n\n",
        doc(
            Some(&format!(
                "Calls {title} over `http(s)://` (a request per call) or `ws(s)://` (one connection)."
            )),
            ""
        )
    ));
    out.push_str("  constructor(url: string, options: ClientOptions = {}) {\n    this.connection = new Connection(url, options, __rpcPlaces);\n  }\n\n");
    out.push_str("  /** Closes the WebSocket, if one is open, and stops reconnecting (waiting subscriptions end with an error). */\n  close(): void {\n    this.connection.close();\n  }\n\n");
    out.push_str("  /** Handles the notifications `method` the server sends (WebSocket only). */\n  on(method: string, handler: (params: unknown) => void): void {\n    this.connection.on(method, handler);\n  }\n\n");
    out.push_str("  /** Sends several calls in one message; each result (or `RpcError`) in call order. */\n  batch<T extends readonly BatchCall<unknown>[]>(build: (b: Batch) => [...T]): Promise<BatchResults<T>> {\n    const calls = build(new Batch());\n    return this.connection.batch(calls.map((c) => c.wire)) as Promise<BatchResults<T>>;\n  }\n");
    tree.write_class(&mut out, Target::Client);
    out.push_str("}\n\n");
    out.push_str("/** Builds the calls of `client.batch(b => [...])`. */\nexport class Batch {\n");
    tree.write_class(&mut out, Target::Batch);
    out.push_str("}\n");
    Ok(out)
}

/// The document's `components`, for `$ref`s into them (one level: a `$ref`
/// to a `$ref` is not followed).
struct Components<'a>(Option<&'a Value>);

impl<'a> Components<'a> {
    /// `value`, or what its `$ref` to `#/components/{kind}/NAME` names, with
    /// NAME.
    fn resolve(&self, value: &'a Value, kind: &str) -> (&'a Value, Option<&'a str>) {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return (value, None);
        };
        reference
            .strip_prefix("#/components/")
            .and_then(|r| r.strip_prefix(kind))
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|name| Some((self.0?.get(kind)?.get(name)?, Some(name))))
            .unwrap_or((value, None))
    }
}

/// A parameter's name on the wire.
fn param_name(param: &Value) -> &str {
    param.get("name").and_then(Value::as_str).unwrap_or("param")
}

/// Fails unless method names are unique, and each method's parameter names.
fn check_unique(methods: &[(&str, &Value)], components: &Components<'_>) -> Result<(), Error> {
    let wires: Vec<&str> = methods.iter().map(|(wire, _)| *wire).collect();
    let mut duplicates: Vec<Duplicate> = repeated(&wires)
        .into_iter()
        .map(|(name, count)| Duplicate {
            method: name.to_owned(),
            parameter: None,
            count,
        })
        .collect();
    // The first method of each name only: the others are errors already.
    let mut checked = HashSet::with_capacity(methods.len());
    for (wire, method) in methods {
        if !checked.insert(*wire) {
            continue;
        }
        let named: Vec<&str> = method
            .get("params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                components
                    .resolve(p, "contentDescriptors")
                    .0
                    .get("name")?
                    .as_str()
            })
            .collect();
        duplicates.extend(repeated(&named).into_iter().map(|(name, count)| Duplicate {
            method: (*wire).to_owned(),
            parameter: Some(name.to_owned()),
            count,
        }));
    }
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(Error::Duplicates(duplicates))
    }
}

/// Content descriptors that several methods `$ref` and whose type is long:
/// each written once, as a type of its own, and used by name (written at
/// each use, a document of many short `$ref`s would make a module that many
/// times the type's length).
struct Shared<'a> {
    /// The type's name, by the descriptor's name in `components`.
    by_reference: HashMap<&'a str, String>,
    /// Each type's name, descriptor name and type, by descriptor name.
    types: Vec<(String, &'a str, String)>,
}

impl<'a> Shared<'a> {
    fn new(
        methods: &[(&str, &'a Value)],
        components: &Components<'a>,
        names: &mut SchemaNames,
        bigint: bool,
    ) -> Shared<'a> {
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for (_, method) in methods {
            let params = method.get("params").and_then(Value::as_array);
            for descriptor in params.into_iter().flatten().chain(method.get("result")) {
                if let (_, Some(reference)) = components.resolve(descriptor, "contentDescriptors") {
                    *uses.entry(reference).or_default() += 1;
                }
            }
        }
        let mut long: Vec<(&str, String)> = {
            let types = Types { names, bigint };
            uses.into_iter()
                .filter(|(_, uses)| *uses > 1)
                .filter_map(|(reference, _)| {
                    let descriptor = components.0?.get("contentDescriptors")?.get(reference)?;
                    let ty = types.of(descriptor.get("schema").unwrap_or(&ANY), "");
                    (ty.len() > INLINE).then_some((reference, ty))
                })
                .collect()
        };
        long.sort_unstable();
        let wanted: Vec<String> = long.iter().map(|(r, _)| type_identifier(r)).collect();
        let given = names.more(&wanted);
        Shared {
            by_reference: long
                .iter()
                .map(|(r, _)| *r)
                .zip(given.iter().cloned())
                .collect(),
            types: given
                .into_iter()
                .zip(long)
                .map(|(name, (reference, ty))| (name, reference, ty))
                .collect(),
        }
    }
}

/// The names that occur more than once in `names`, in the order they first
/// occur, with how often.
fn repeated<'a>(names: &[&'a str]) -> Vec<(&'a str, usize)> {
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        seen.entry(name).or_insert((index, 0)).1 += 1;
    }
    let mut repeated: Vec<(usize, &str, usize)> = seen
        .into_iter()
        .filter(|(_, (_, count))| *count > 1)
        .map(|(name, (first, count))| (first, name, count))
        .collect();
    repeated.sort_unstable();
    repeated
        .into_iter()
        .map(|(_, name, count)| (name, count))
        .collect()
}

/// `text` on one line (a `//` comment ends at any line terminator).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r', '\u{2028}', '\u{2029}'], " ")
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Client,
    Batch,
}

/// The methods by the parts of their dotted names, each node in one vector
/// (no recursive type a deep name could make deep), with every member's
/// name given once for both `Client` and `Batch`.
struct Tree<'a> {
    /// `nodes[0]` is the class; every other node is a namespace object,
    /// after the node it belongs to.
    nodes: Vec<Node<'a>>,
}

#[derive(Default)]
struct Node<'a> {
    /// Its part of the name (`math` of `math.multiply`); none at the top.
    part: Option<&'a str>,
    /// The namespaces in it, by their part of the name.
    children: BTreeMap<&'a str, usize>,
    /// Its methods, each with its last part of the name (a whole name at
    /// the top when it is not nested).
    methods: Vec<(&'a str, &'a Method)>,
    /// The member name of each child (in `children`' order), then of each
    /// method.
    members: Vec<String>,
    /// How many methods a batch may call, here and below.
    batchable: usize,
}

impl<'a> Tree<'a> {
    fn new(methods: &'a [Method]) -> Tree<'a> {
        let mut nodes = vec![Node::default()];
        for method in methods {
            let wire = method.wire.as_str();
            let parts = wire.split('.').take(MAX_PARTS + 1).count();
            if parts == 1 || parts > MAX_PARTS || wire.split('.').any(str::is_empty) {
                nodes[0].methods.push((wire, method));
                continue;
            }
            let mut parts = wire.split('.');
            let leaf = parts.next_back().unwrap_or(wire);
            let mut at = 0;
            for part in parts {
                at = match nodes[at].children.get(part) {
                    Some(&child) => child,
                    None => {
                        let child = nodes.len();
                        nodes.push(Node {
                            part: Some(part),
                            ..Node::default()
                        });
                        nodes[at].children.insert(part, child);
                        child
                    }
                };
            }
            nodes[at].methods.push((leaf, method));
        }
        // Children come after their parents: from the end, each node's
        // count is complete before its parent reads it.
        for at in (0..nodes.len()).rev() {
            let own = nodes[at]
                .methods
                .iter()
                .filter(|(_, m)| m.subscription.is_none())
                .count();
            let below: usize = nodes[at]
                .children
                .values()
                .map(|&c| nodes[c].batchable)
                .sum();
            nodes[at].batchable = own + below;
        }
        // Namespaces keep their names when they can: methods give way.
        for (at, node) in nodes.iter_mut().enumerate() {
            let wanted: Vec<&str> = node
                .children
                .keys()
                .copied()
                .chain(node.methods.iter().map(|(name, _)| *name))
                .collect();
            node.members = names::member_scope(at == 0).assign(&wanted);
        }
        Tree { nodes }
    }

    /// The members of `Client` or `Batch`: methods, then namespaces as
    /// fields.
    fn write_class(&self, out: &mut String, target: Target) {
        let root = &self.nodes[0];
        let (namespaces, methods) = root.members.split_at(root.children.len());
        for ((name, method), member) in root.methods.iter().zip(methods) {
            if target == Target::Batch && method.subscription.is_some() {
                continue;
            }
            out.push('\n');
            out.push_str(&signature_doc(method, name, member, "  "));
            out.push_str(&format!(
                "  {}({}): {} {{\n    return {};\n  }}\n",
                property_key(member),
                param_list(method),
                return_type(method, target),
                expression(method, target)
            ));
        }
        for (&child, member) in root.children.values().zip(namespaces) {
            if target == Target::Batch && self.nodes[child].batchable == 0 {
                continue;
            }
            out.push('\n');
            out.push_str(&namespace_doc(&self.nodes[child], member, "  "));
            out.push_str(&format!("  readonly {} = ", property_key(member)));
            self.write_object(out, child, target, "  ", 2);
            out.push_str(";\n");
        }
    }

    /// A namespace (`math` of `math.multiply`) as an object of arrow
    /// functions. Recursion as deep as a name has parts, at most
    /// [`MAX_PARTS`].
    fn write_object(
        &self,
        out: &mut String,
        at: usize,
        target: Target,
        indent: &str,
        depth: usize,
    ) {
        debug_assert!(depth <= MAX_PARTS);
        let node = &self.nodes[at];
        let inner = format!("{indent}  ");
        let (namespaces, methods) = node.members.split_at(node.children.len());
        out.push_str("{\n");
        for ((name, method), member) in node.methods.iter().zip(methods) {
            if target == Target::Batch && method.subscription.is_some() {
                continue;
            }
            out.push_str(&signature_doc(method, name, member, &inner));
            out.push_str(&format!(
                "{inner}{}: ({}): {} => {},\n",
                property_key(member),
                param_list(method),
                return_type(method, target),
                expression(method, target)
            ));
        }
        for (&child, member) in node.children.values().zip(namespaces) {
            if target == Target::Batch && self.nodes[child].batchable == 0 {
                continue;
            }
            out.push_str(&namespace_doc(&self.nodes[child], member, &inner));
            out.push_str(&format!("{inner}{}: ", property_key(member)));
            self.write_object(out, child, target, &inner, depth + 1);
            out.push_str(",\n");
        }
        out.push_str(indent);
        out.push('}');
    }
}

/// A renamed namespace's documentation: the name of its methods on the
/// wire. A namespace of its own name needs none.
fn namespace_doc(node: &Node<'_>, member: &str, indent: &str) -> String {
    let Some(name) = node.part else {
        return String::new();
    };
    let renamed = renamed(name, member);
    if renamed.is_empty() {
        return String::new();
    }
    doc(Some(&format!("The methods `{name}.*`{renamed}.")), indent)
}

/// The method's documentation: its own, its parameters', and its name on
/// the wire when the member's name differs.
fn signature_doc(method: &Method, name: &str, member: &str, indent: &str) -> String {
    let mut text = method.description.clone().unwrap_or_default();
    let described: Vec<String> = method
        .params
        .iter()
        .filter_map(|p| {
            p.description
                .as_ref()
                .map(|d| format!("@param {} {}", p.ident, d.replace('\n', " ")))
        })
        .collect();
    if !described.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&described.join("\n"));
    }
    let wire = format!("`{}`", method.wire);
    let renamed = renamed(name, member);
    if text.is_empty() {
        text = format!("Calls {wire}{renamed}.");
    } else if !renamed.is_empty() {
        text.push_str(&format!("\n\nCalls {wire}{renamed}."));
    }
    doc(Some(&text), indent)
}

/// Why a member is not named `name`, or nothing.
fn renamed(name: &str, member: &str) -> String {
    if member == name {
        String::new()
    } else {
        format!(": named `{member}` here, as `{name}` is taken (see Names at the top)")
    }
}

fn param_list(method: &Method) -> String {
    method
        .params
        .iter()
        .map(|p| format!("{}{}: {}", p.ident, if p.optional { "?" } else { "" }, p.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

fn return_type(method: &Method, target: Target) -> String {
    let value = match (&method.subscription, &method.result) {
        (Some((item, _)), _) => format!("Subscription<{item}>"),
        (None, Some(result)) => result.clone(),
        (None, None) => "void".into(),
    };
    match target {
        Target::Client => format!("Promise<{value}>"),
        Target::Batch => format!(
            "BatchCall<{}>",
            if method.result.is_none() {
                "undefined".into()
            } else {
                value
            }
        ),
    }
}

/// The wire form of the call: `wire("name", params, notification)`.
fn wire_call(method: &Method) -> String {
    let values: Vec<&str> = method.params.iter().map(|p| p.ident.as_str()).collect();
    let params = if method.params.is_empty() {
        "undefined".to_owned()
    } else if method.by_name {
        let keys: Vec<String> = method
            .params
            .iter()
            .map(|p| Value::String(p.wire.clone()).to_string())
            .collect();
        format!(
            "{}([{}], [{}])",
            names::NAMED,
            keys.join(", "),
            values.join(", ")
        )
    } else {
        format!("{}([{}])", names::POSITIONAL, values.join(", "))
    };
    let rest = match (&method.result, &method.places) {
        (None, _) => ", true".to_owned(),
        (Some(_), Some(places)) => format!(", false, {places}"),
        (Some(_), None) => String::new(),
    };
    format!(
        "{}({}, {params}{rest})",
        names::WIRE,
        Value::String(method.wire.clone()),
    )
}

fn expression(method: &Method, target: Target) -> String {
    let call = wire_call(method);
    match (target, &method.subscription) {
        (Target::Batch, _) => format!("({{ wire: {call} }})"),
        (Target::Client, Some((_, unsubscribe))) => {
            // A parameter `since` resumes the subscription after an event id:
            // the runtime sets it when it makes the subscription again.
            let since = method
                .params
                .iter()
                .position(|p| p.wire == "since")
                .map(|at| format!(", {at}"))
                .unwrap_or_default();
            format!(
                "this.connection.subscribe({call}, {}{since})",
                Value::String(unsubscribe.clone())
            )
        }
        (Target::Client, None) => format!(
            "this.connection.request({call}) as {}",
            return_type(method, target)
        ),
    }
}
