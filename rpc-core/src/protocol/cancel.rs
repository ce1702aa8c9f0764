//! `$/cancelRequest` on the wire (LSP's convention, params `{"id": ID}`):
//! the notification that asks a peer to stop one of its calls, and the
//! answer (-32800 "Request cancelled") of a call stopped that way.

use serde_json::value::RawValue;

use super::error::{code, ErrorObject};
use super::id::Id;

/// The method name of the cancellation notification.
pub const CANCEL_METHOD: &str = "$/cancelRequest";

/// The answer of a cancelled call.
pub fn cancelled() -> ErrorObject {
    ErrorObject::new(code::REQUEST_CANCELLED, "Request cancelled")
}

/// The id a `$/cancelRequest` names: `{"id": ID}` or `[ID]`.
pub(crate) fn target(params: Option<&RawValue>) -> Option<Id> {
    #[derive(serde::Deserialize)]
    struct Named {
        id: Id,
    }
    let raw = params?.get();
    serde_json::from_str::<Named>(raw)
        .map(|n| n.id)
        .or_else(|_| serde_json::from_str::<(Id,)>(raw).map(|(id,)| id))
        .ok()
}

/// The notification that asks the peer to cancel `id`.
pub(crate) fn request(id: &Id) -> Vec<u8> {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "null".to_owned());
    format!(r#"{{"jsonrpc":"2.0","method":"{CANCEL_METHOD}","params":{{"id":{id}}}}}"#).into_bytes()
}
