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

/// What a notice carries: an item, or the end (`None`: the items ran out).
pub(crate) type Content = Result<Box<RawValue>, Option<ErrorObject>>;

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

/// The event id of a topic's item, if the notice carried one, and whether
/// it was a gap notice instead.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) event: Option<String>,
    pub(crate) gap: bool,
}

/// A subscription id as a client knows it: a string's content, or a
/// number's text (jsonrpsee numbers its subscriptions by default).
pub(crate) fn key(id: &RawValue) -> String {
    serde_json::from_str::<String>(id.get()).unwrap_or_else(|_| id.get().to_owned())
}

/// Reads `params` as a notice: the subscription's key, what it carries, and
/// its event id or gap mark (a gap notice is `Ok(null)` content with `gap`
/// set); `None` when the params are no notice.
pub(crate) fn read_with(params: &RawValue) -> Option<(String, Content, Extra)> {
    // Named params only: a struct also reads from an array, and
    // `["x", 1]` is no notice.
    if !params.get().starts_with('{') {
        return None;
    }
    let parts: Parts<'_> = serde_json::from_str(params.get()).ok()?;
    if parts.gap && parts.result.is_none() && parts.error.is_none() {
        let null = RawValue::from_string("null".to_owned()).ok()?;
        let extra = Extra {
            event: None,
            gap: true,
        };
        return Some((key(parts.subscription), Ok(null), extra));
    }
    let extra = Extra {
        event: parts.event,
        gap: false,
    };
    let content = match (parts.result, parts.error) {
        (Some(item), None) => Ok(item.to_owned()),
        (None, Some(error)) if error.get() == "null" => Err(None),
        (None, Some(error)) => Err(Some(
            serde_json::from_str(error.get())
                .unwrap_or_else(|_| ErrorObject::internal_error("malformed end of subscription")),
        )),
        _ => return None,
    };
    Some((key(parts.subscription), content, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn a_notice_is_an_object_with_an_id_and_a_result_or_an_error() {
        let (id, content, extra) = read_with(&raw(r#"{"subscription":"a","result":[1]}"#)).unwrap();
        assert_eq!(id, "a");
        assert_eq!(content.unwrap().get(), "[1]");
        assert!(extra.event.is_none() && !extra.gap);
        let (_, _, extra) =
            read_with(&raw(r#"{"subscription":"a","result":2,"event":"e-1"}"#)).unwrap();
        assert_eq!(extra.event.as_deref(), Some("e-1"));
        let (_, _, extra) = read_with(&raw(r#"{"subscription":"a","gap":true}"#)).unwrap();
        assert!(extra.gap);
        let (id, content, _) = read_with(&raw(r#"{"subscription":7,"error":null}"#)).unwrap();
        assert_eq!(id, "7");
        assert!(matches!(content, Err(None)));
        for not_one in [
            r#"["a",1]"#,
            r#"["a",1,null]"#,
            r#"{"subscription":"a"}"#,
            r#"{"result":1}"#,
        ] {
            assert!(read_with(&raw(not_one)).is_none(), "{not_one}");
        }
    }
}
