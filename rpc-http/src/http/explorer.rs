//! The explorer: a page a browser gets at `GET /`, built from the OpenRPC
//! document, with a form per method to call it and see what comes back.
//!
//! Self-contained (its style and script are inline; it loads nothing
//! else), so it works with no network. Each method is a
//! `<form data-method="NAME">` holding one field `[name=PARAM]` per
//! parameter (read as JSON, else taken as a string; an empty field leaves
//! the parameter out), a submit button, and an element `[data-result]`
//! whose text is, after a call, the JSON of the result or of the error
//! object, its attribute `data-outcome` `result` or `error`. One button
//! sends every filled form at once, as a batch.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// Whether the request's `Accept` prefers `text/html` to
/// `application/json` (a browser's does; curl's `*/*` does not).
pub(crate) fn wants_page(headers: &HeaderMap) -> bool {
    let Some(accept) = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    quality(accept, "text", "html") > quality(accept, "application", "json")
}

/// The quality `accept` gives `kind/sub`: from its most specific match
/// (`kind/sub`, then `kind/*`, then `*/*`), 0 when none matches.
fn quality(accept: &str, kind: &str, sub: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                let p = p.trim();
                p.get(..2)
                    .filter(|k| k.eq_ignore_ascii_case("q="))
                    .map(|_| &p[2..])
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = match media.split_once('/') {
            Some((k, s)) if k == kind && s == sub => 3,
            Some((k, "*")) if k == kind => 2,
            Some(("*", "*")) => 1,
            _ => continue,
        };
        if best.is_none_or(|(b, _)| specificity > b) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The schemas of `components/schemas`, by name.
struct Components<'a>(Option<&'a Map<String, Value>>);

impl<'a> Components<'a> {
    /// `schema`, with a `$ref` followed.
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let target = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .and_then(|name| self.0?.get(name));
        target.unwrap_or(schema)
    }

    /// A short name for a schema's type: `integer`, `string | null`,
    /// `array of number`, `Stats`, `any`.
    fn type_name(&self, schema: &Value, depth: usize) -> String {
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
        {
            return name.to_owned();
        }
        if depth > 4 {
            return "…".into();
        }
        match schema.get("type") {
            Some(Value::String(t)) if t == "array" => match schema.get("items") {
                Some(items) if items.is_object() => {
                    format!("array of {}", self.type_name(items, depth + 1))
                }
                _ => "array".into(),
            },
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" | "),
            _ if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() => "one of".into(),
            _ => "any".into(),
        }
    }

    /// Whether a value of this schema is best typed as JSON in a text area.
    fn structured(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        let kind = |t: &str| t == "object" || t == "array";
        match schema.get("type") {
            Some(Value::String(t)) => kind(t),
            Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).any(kind),
            _ => schema.get("oneOf").is_some() || schema.get("anyOf").is_some(),
        }
    }

    /// An example value of the schema, to show what to write.
    fn example(&self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > 4 {
            return Value::Null;
        }
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        if let Some(first) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return self.example(first, depth + 1);
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ => "",
        };
        match kind {
            "object" => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut out = Map::new();
                for (name, property) in properties.into_iter().flatten() {
                    if required.contains(&name.as_str()) {
                        out.insert(name.clone(), self.example(property, depth + 1));
                    }
                }
                Value::Object(out)
            }
            "array" => match schema.get("items") {
                Some(items) if items.is_object() => {
                    Value::Array(vec![self.example(items, depth + 1)])
                }
                _ => Value::Array(Vec::new()),
            },
            "integer" => Value::from(1),
            "number" => Value::from(1.5),
            "boolean" => Value::Bool(true),
            "string" => Value::String("text".into()),
            _ => Value::Null,
        }
    }
}

/// The explorer page for `document` (an OpenRPC document).
pub(crate) fn page(document: &Value) -> String {
    let components = Components(
        document
            .pointer("/components/schemas")
            .and_then(Value::as_object),
    );
    let info = |key: &str| {
        document
            .pointer(&format!("/info/{key}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (title, version, description) = (info("title"), info("version"), info("description"));
    let mut forms = String::new();
    let methods = document.get("methods").and_then(Value::as_array);
    for method in methods.into_iter().flatten() {
        forms.push_str(&form(method, &components));
    }
    let mut page = String::with_capacity(forms.len() + 8 * 1024);
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str(&format!(
        "<title>{} {} — JSON-RPC explorer</title>\n",
        escape(&title),
        escape(&version)
    ));
    page.push_str("<style>");
    page.push_str(STYLE);
    page.push_str("</style>\n</head>\n<body>\n<header>\n");
    page.push_str(&format!(
        "<h1>{} <small>{}</small></h1>\n",
        escape(&title),
        escape(&version)
    ));
    if !description.is_empty() {
        page.push_str(&format!("<p>{}</p>\n", escape(&description)));
    }
    page.push_str(
        "<p class=\"hint\">Each field is read as JSON, else taken as a string; an empty field \
         leaves its parameter out. <button type=\"button\" id=\"batch\">Send every filled form \
         as one batch</button> <span id=\"batch-status\"></span></p>\n</header>\n<main>\n",
    );
    page.push_str(&forms);
    page.push_str("</main>\n<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

/// One method's form.
fn form(method: &Value, components: &Components<'_>) -> String {
    let text = |key: &str| method.get(key).and_then(Value::as_str).unwrap_or_default();
    let name = text("name");
    let notification = method.get("x-notification") == Some(&Value::Bool(true));
    let mut out = format!(
        "<form data-method=\"{}\"{}>\n<h2><code>{}</code>",
        escape(name),
        if notification {
            " data-notification=\"true\""
        } else {
            ""
        },
        escape(name)
    );
    let mut tags = Vec::new();
    if notification {
        tags.push("notification".to_owned());
    }
    if method.get("x-idempotent") == Some(&Value::Bool(true)) {
        tags.push("idempotent".to_owned());
    }
    if let Some(role) = method.get("x-requires").and_then(Value::as_str) {
        tags.push(format!("requires {role}"));
    }
    if let Some(pushed) = method.get("x-notifies").and_then(Value::as_array) {
        let names: Vec<&str> = pushed.iter().filter_map(Value::as_str).collect();
        tags.push(format!("notifies {}", names.join(", ")));
    }
    if method.get("x-subscription").is_some() {
        tags.push("subscription: WebSocket or TCP".to_owned());
    }
    for tag in tags {
        out.push_str(&format!(" <span class=\"tag\">{}</span>", escape(&tag)));
    }
    out.push_str("</h2>\n");
    let description = text("description");
    if !description.is_empty() {
        let summary = description.split("\n\n").next().unwrap_or(description);
        out.push_str(&format!("<p class=\"desc\">{}</p>\n", escape(summary)));
    }
    let params = method.get("params").and_then(Value::as_array);
    for param in params.into_iter().flatten() {
        let pname = param
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let required = param.get("required") == Some(&Value::Bool(true));
        let schema = param.get("schema").cloned().unwrap_or(Value::Null);
        let kind = components.type_name(&schema, 0);
        let example = serde_json::to_string(&components.example(&schema, 0)).unwrap_or_default();
        out.push_str(&format!(
            "<label><span class=\"param\">{}</span> <span class=\"type\">{}{}</span>",
            escape(pname),
            escape(&kind),
            if required {
                " · required"
            } else {
                " · optional"
            }
        ));
        if let Some(d) = param.get("description").and_then(Value::as_str) {
            out.push_str(&format!(" <span class=\"pdesc\">{}</span>", escape(d)));
        }
        if components.structured(&schema) {
            out.push_str(&format!(
                "<textarea name=\"{}\" rows=\"3\" placeholder=\"{}\"></textarea>",
                escape(pname),
                escape(&example)
            ));
        } else {
            out.push_str(&format!(
                "<input name=\"{}\" autocomplete=\"off\" placeholder=\"{}\">",
                escape(pname),
                escape(&example)
            ));
        }
        out.push_str("</label>\n");
    }
    if let Some(result) = method.pointer("/result/schema") {
        out.push_str(&format!(
            "<p class=\"returns\">returns <span class=\"type\">{}</span></p>\n",
            escape(&components.type_name(result, 0))
        ));
    }
    if let Some(errors) = method.get("errors").and_then(Value::as_array) {
        let listed: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.get("code").map(Value::to_string).unwrap_or_default(),
                    e.get("message").and_then(Value::as_str).unwrap_or_default()
                )
            })
            .collect();
        out.push_str(&format!(
            "<p class=\"errors\">errors: {}</p>\n",
            escape(&listed.join(" · "))
        ));
    }
    out.push_str(
        "<div class=\"actions\"><button type=\"submit\">Call</button> \
         <label class=\"inbatch\"><input type=\"checkbox\" data-batch> in the batch</label></div>\n\
         <pre data-result></pre>\n</form>\n",
    );
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --accent: #2563eb; --ok: #15803d; --bad: #b91c1c; --line: #8884; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
header { padding: 1rem 1.5rem; border-bottom: 1px solid var(--line); }
h1 { margin: 0 0 .25rem; font-size: 1.4rem; }
h1 small { font-weight: normal; opacity: .7; }
.hint { opacity: .85; font-size: .9rem; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: 1rem; padding: 1rem 1.5rem; }
form { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; display: flex; flex-direction: column; gap: .4rem; }
h2 { margin: 0; font-size: 1.05rem; }
.tag { font-size: .7rem; font-weight: normal; border: 1px solid var(--line); border-radius: 1rem; padding: 0 .45rem; margin-left: .25rem; vertical-align: middle; }
.desc, .returns, .errors { margin: 0; font-size: .85rem; opacity: .85; }
label { display: flex; flex-direction: column; font-size: .85rem; gap: .15rem; }
.param { font-family: ui-monospace, monospace; font-weight: bold; }
.type { opacity: .7; }
.pdesc { opacity: .8; }
input, textarea { font: 13px ui-monospace, monospace; padding: .3rem .4rem; border: 1px solid var(--line); border-radius: .3rem; background: transparent; color: inherit; }
.actions { display: flex; gap: .75rem; align-items: center; }
label.inbatch { flex-direction: row; gap: .3rem; align-items: center; opacity: .8; }
button { align-self: flex-start; font: inherit; padding: .25rem .9rem; border-radius: .3rem; border: 1px solid var(--accent); background: var(--accent); color: white; cursor: pointer; }
#batch { font-size: .85rem; }
pre[data-result] { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: 13px; min-height: 1.2em; padding: .3rem .5rem; border-radius: .3rem; }
pre[data-outcome="result"] { background: #15803d22; border-left: 3px solid var(--ok); }
pre[data-outcome="error"] { background: #b91c1c22; border-left: 3px solid var(--bad); }
"#;

const SCRIPT: &str = r#"
"use strict";
const endpoint = location.pathname;
// A parameter named like a form property (`dataset`, `querySelector`)
// shadows it on the form: reach forms only through the prototypes.
const attr = (el, name) => Element.prototype.getAttribute.call(el, name);
const all = (el, selector) => Array.from(Element.prototype.querySelectorAll.call(el, selector));
const one = (el, selector) => Element.prototype.querySelector.call(el, selector);
const forms = Array.from(document.querySelectorAll("form[data-method]"));
function fields(form) { return all(form, "[name]"); }
function isNotification(form) { return attr(form, "data-notification") === "true"; }
function params(form) {
  const out = {};
  for (const field of fields(form)) {
    const text = field.value;
    if (text.trim() === "") continue;
    let value;
    try { value = JSON.parse(text); } catch (_) { value = text; }
    out[field.name] = value;
  }
  return out;
}
function message(form, id) {
  const m = { jsonrpc: "2.0", method: attr(form, "data-method"), params: params(form) };
  if (!isNotification(form)) m.id = id;
  return m;
}
function show(form, outcome, value, note) {
  const out = one(form, "[data-result]");
  out.setAttribute("data-outcome", outcome);
  out.textContent = JSON.stringify(value, null, 2);
  out.title = note || "";
}
function pending(form) {
  const out = one(form, "[data-result]");
  out.setAttribute("data-outcome", "pending");
  out.textContent = "…";
  out.title = "";
}
function settle(form, answer) {
  if (isNotification(form)) {
    show(form, "result", null, "a notification: sent, no answer");
  } else if (answer === undefined || answer === null || typeof answer !== "object") {
    show(form, "error", { message: "no answer for this call" });
  } else if (answer.error !== undefined) {
    show(form, "error", answer.error);
  } else {
    show(form, "result", answer.result);
  }
}
async function post(body) {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (text === "") return null;
  try { return JSON.parse(text); }
  catch (_) { throw new Error("HTTP " + response.status + ": " + text.slice(0, 200)); }
}
for (const form of forms) {
  EventTarget.prototype.addEventListener.call(form, "submit", async (event) => {
    event.preventDefault();
    pending(form);
    try { settle(form, await post(message(form, 1))); }
    catch (e) { show(form, "error", { message: String(e && e.message || e) }); }
  });
}
document.getElementById("batch").addEventListener("click", async () => {
  const status = document.getElementById("batch-status");
  const filled = forms.filter((f) =>
    one(f, "[data-batch]").checked || fields(f).some((x) => x.value.trim() !== ""));
  if (filled.length === 0) { status.textContent = "fill in some forms first"; return; }
  filled.forEach(pending);
  const body = filled.map((f, i) => message(f, i + 1));
  status.textContent = "sent " + body.length + " calls";
  try {
    const answers = await post(body);
    const byId = new Map();
    if (Array.isArray(answers)) for (const a of answers) byId.set(a.id, a);
    filled.forEach((f, i) => {
      // A single answer to the whole batch: an error about the batch itself.
      if (!Array.isArray(answers) && answers !== null && !isNotification(f)) settle(f, answers);
      else settle(f, byId.get(i + 1));
    });
  } catch (e) {
    filled.forEach((f) => show(f, "error", { message: String(e && e.message || e) }));
  }
});
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_browser_gets_the_page_and_everything_else_json() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_page(&accept(firefox)));
        assert!(wants_page(&accept("text/html")));
        assert!(!wants_page(&accept("*/*")));
        assert!(!wants_page(&accept("application/json")));
        assert!(!wants_page(&accept("application/json, text/html;q=0.5")));
        assert!(!wants_page(&accept("text/html;q=0.5, application/json")));
        assert!(!wants_page(&HeaderMap::new()));
    }

    #[test]
    fn text_from_the_document_is_escaped() {
        let document = serde_json::json!({
            "info": { "title": "<script>alert(1)</script>", "version": "1" },
            "methods": [{ "name": "a\"b", "params": [{ "name": "<x>", "schema": {} }] }],
        });
        let page = page(&document);
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("data-method=\"a&quot;b\""));
        assert!(page.contains("name=\"&lt;x&gt;\""));
    }
}
