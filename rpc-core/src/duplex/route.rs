//! What an incoming message is (a response to us, a notification, requests),
//! and answers built from a message's ids without dispatching it.

use crate::request::Members;
use crate::response::{error_response, write_batch, write_response};
use crate::scan::first_byte;
use crate::{ErrorObject, Id};

/// The members of a message, read just enough to route it; `None` when it
/// is not a JSON object or array of objects. The flag says whether it was a batch.
fn probes(bytes: &[u8]) -> Option<(bool, Vec<Members<'_>>)> {
    match first_byte(bytes) {
        Some(b'{') => serde_json::from_slice(bytes).ok().map(|p| (false, vec![p])),
        Some(b'[') => serde_json::from_slice(bytes).ok().map(|ps| (true, ps)),
        _ => None,
    }
}

/// How an incoming message is routed.
pub(super) enum Kind {
    /// A response (or batch of responses) to our calls, with its ids.
    Response(Vec<Id>),
    /// A single notification: handled in arrival order.
    Notification,
    /// Requests, batches and anything invalid: dispatched concurrently.
    Other,
    /// Not JSON-RPC at all (not JSON, or not objects): dispatched (the peer
    /// gets -32700 or -32600), and reported if we were waiting for answers.
    Unreadable,
}

pub(super) fn kind(bytes: &[u8]) -> Kind {
    match probes(bytes) {
        Some((_, members)) if !members.is_empty() && members.iter().all(Members::is_response) => {
            Kind::Response(
                members
                    .iter()
                    .filter_map(|p| p.id.and_then(Id::from_raw))
                    .collect(),
            )
        }
        Some((false, members)) if members[0].method.is_some() && members[0].id.is_none() => {
            Kind::Notification
        }
        Some(_) => Kind::Other,
        None => Kind::Unreadable,
    }
}

/// `error` as the answer to every call in `message` (by its ids), or one
/// error for the whole message when its members cannot be read; `None`
/// when nothing in it expects an answer.
pub(super) fn answer_all(message: &[u8], error: &ErrorObject) -> Option<Vec<u8>> {
    let Some((batch, members)) = probes(message) else {
        return Some(error_response(error));
    };
    let answers = members
        .iter()
        .filter(|p| p.id.is_some() || p.method.is_none())
        .map(|p| (p.id, Err(error.clone())));
    if batch {
        write_batch(answers)
    } else {
        let mut out = Vec::new();
        for (id, outcome) in answers {
            write_response(&mut out, id, &outcome);
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusing_a_message_answers_each_request_but_no_notification() {
        let error = ErrorObject::new(crate::code::SHUTTING_DOWN, "Server is shutting down");
        let batch = br#"[{"jsonrpc":"2.0","method":"a","id":1},{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","method":"b","id":"x"}]"#;
        let out: serde_json::Value =
            serde_json::from_slice(&answer_all(batch, &error).unwrap()).unwrap();
        let ids: Vec<_> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        assert_eq!(ids, [serde_json::json!(1), serde_json::json!("x")]);
        assert!(answer_all(br#"{"jsonrpc":"2.0","method":"n"}"#, &error).is_none());
        let garbage: serde_json::Value =
            serde_json::from_slice(&answer_all(b"{oops", &error).unwrap()).unwrap();
        assert_eq!(garbage["id"], serde_json::Value::Null);
    }
}
