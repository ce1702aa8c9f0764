//! Writing responses straight into a byte buffer.

use serde_json::value::RawValue;

use super::error::ErrorObject;

/// Appends `{"jsonrpc":"2.0","result":..,"id":..}` or the error form to `out`.
///
/// `id` is the raw id text to echo (`None` writes `null`).
pub fn write_response(
    out: &mut Vec<u8>,
    id: Option<&RawValue>,
    outcome: &Result<Box<RawValue>, ErrorObject>,
) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","#);
    match outcome {
        Ok(result) => {
            out.extend_from_slice(br#""result":"#);
            out.extend_from_slice(result.get().as_bytes());
        }
        Err(error) => {
            out.extend_from_slice(br#""error":"#);
            write_error_object(out, error);
        }
    }
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.push(b'}');
}

fn write_error_object(out: &mut Vec<u8>, error: &ErrorObject) {
    if serde_json::to_writer(&mut *out, error).is_err() {
        // Only `data` can fail to serialize (e.g. a non-finite float); keep the rest.
        let plain = ErrorObject::new(error.code, error.message.clone());
        let _ = serde_json::to_writer(&mut *out, &plain);
    }
}

/// One error response for a whole message (parse error, empty batch, ...).
pub fn error_response(error: &ErrorObject) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_response(&mut out, None, &Err(error.clone()));
    out
}

/// Writes a batch answer `[..]` from each call's id and outcome; `None`
/// when there is nothing to answer (a batch of notifications).
pub(crate) fn write_batch<'a>(
    answers: impl IntoIterator<Item = (Option<&'a RawValue>, Result<Box<RawValue>, ErrorObject>)>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (id, outcome) in answers {
        out.push(if out.is_empty() { b'[' } else { b',' });
        write_response(&mut out, id, &outcome);
    }
    if out.is_empty() {
        return None;
    }
    out.push(b']');
    Some(out)
}
