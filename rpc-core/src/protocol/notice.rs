//! Subscription notices on the wire, as jsonrpsee and Ethereum's pub/sub
//! write them: `{"method": NAME, "params": {"subscription": ID, "result": ITEM}}`
//! for an item, `"error": null` (the items ran out) or an error object for
//! the end. The server writes them, the client reads them: one definition.

use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{code, ErrorObject};
use super::message::present;

/// The error that ends a subscription whose subscriber could not keep up.
pub fn lagged() -> ErrorObject {
    ErrorObject::new(code::SUBSCRIPTION_LAGGED, "Subscription lagged")
}

/// Encodes a notice of subscription `id`: an item (`Ok`), or the end
/// (`Err(None)`: the items ran out; `Err(Some(error))`: ended by an error).
pub(crate) fn write<T: Serialize + ?Sized>(
    method: &str,
    id: &str,
    content: Result<&T, Option<&ErrorObject>>,
) -> Result<Vec<u8>, ErrorObject> {
    write_event(method, id, content, None)
}

/// [`write`], for a topic's item: with the message's event id
/// (`"event": EVENT`, what a subscriber resumes from).
pub(crate) fn write_event<T: Serialize + ?Sized>(
    method: &str,
    id: &str,
    content: Result<&T, Option<&ErrorObject>>,
    event: Option<&str>,
) -> Result<Vec<u8>, ErrorObject> {
    #[derive(Serialize)]
    struct Params<'a, T: ?Sized> {
        subscription: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a T>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<Option<&'a ErrorObject>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Notice<'a, T: ?Sized> {
        jsonrpc: &'static str,
        method: &'a str,
        params: Params<'a, T>,
    }
    let (result, error) = match content {
        Ok(item) => (Some(item), None),
        Err(error) => (None, Some(error)),
    };
    serde_json::to_vec(&Notice {
        jsonrpc: "2.0",
        method,
        params: Params {
            subscription: id,
            result,
            error,
            event,
        },
    })
    .map_err(|e| {
        ErrorObject::internal_error(format_args!("cannot serialize a subscription item: {e}"))
    })
}

/// The notice that a resumed subscription missed messages:
/// `{"subscription": ID, "gap": true}` (its `since` was no longer retained).
pub(crate) fn write_gap(method: &str, id: &str) -> Result<Vec<u8>, ErrorObject> {
    serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": { "subscription": id, "gap": true },
    }))
    .map_err(ErrorObject::internal_error)
}

/// What a notice carries.
#[derive(Debug)]
pub(crate) enum Read {
    /// An item, with its event id when it is a topic's.
    Item {
        item: Box<RawValue>,
        event: Option<String>,
    },
    /// The server says items were missed.
    Gap,
    /// The end: `None` when the items ran out, else why.
    End(Option<ErrorObject>),
}

/// A notice's parts: `{"subscription": ID, "result": ITEM}` (with a
/// topic's `"event": EVENT`), `"error"`, or `"gap": true`.
#[derive(serde::Deserialize)]
struct Parts<'a> {
    #[serde(borrow)]
    subscription: &'a RawValue,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    gap: bool,
}

/// A subscription id as a client knows it: a string's content, or a
/// number's text (jsonrpsee numbers its subscriptions by default).
pub(crate) fn key(id: &RawValue) -> String {
    serde_json::from_str::<String>(id.get()).unwrap_or_else(|_| id.get().to_owned())
}

/// Reads `params` as a notice: the subscription's key and what it
/// carries; `None` when the params are no notice.
pub(crate) fn read(params: &RawValue) -> Option<(String, Read)> {
    // Named params only: a struct also reads from an array, and
    // `["x", 1]` is no notice.
    if !params.get().starts_with('{') {
        return None;
    }
    let parts: Parts<'_> = serde_json::from_str(params.get()).ok()?;
    let read = match (parts.result, parts.error) {
        (None, None) if parts.gap => Read::Gap,
        (Some(item), None) => Read::Item {
            item: item.to_owned(),
            event: parts.event,
        },
        (None, Some(error)) if error.get() == "null" => Read::End(None),
        (None, Some(error)) => Read::End(Some(
            serde_json::from_str(error.get())
                .unwrap_or_else(|_| ErrorObject::internal_error("malformed end of subscription")),
        )),
        _ => return None,
    };
    Some((key(parts.subscription), read))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn a_notice_is_an_object_with_an_id_and_a_result_or_an_error() {
        let (id, got) = read(&raw(r#"{"subscription":"a","result":[1]}"#)).unwrap();
        assert_eq!(id, "a");
        assert!(matches!(got, Read::Item { item, event: None } if item.get() == "[1]"));
        let (_, got) = read(&raw(r#"{"subscription":"a","result":2,"event":"e-1"}"#)).unwrap();
        assert!(matches!(got, Read::Item { event: Some(e), .. } if e == "e-1"));
        let (_, got) = read(&raw(r#"{"subscription":"a","gap":true}"#)).unwrap();
        assert!(matches!(got, Read::Gap));
        let (id, got) = read(&raw(r#"{"subscription":7,"error":null}"#)).unwrap();
        assert_eq!(id, "7");
        assert!(matches!(got, Read::End(None)));
        for not_one in [
            r#"["a",1]"#,
            r#"["a",1,null]"#,
            r#"{"subscription":"a"}"#,
            r#"{"result":1}"#,
        ] {
            assert!(read(&raw(not_one)).is_none(), "{not_one}");
        }
    }
}
