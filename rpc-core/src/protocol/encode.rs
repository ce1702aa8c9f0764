//! The one request encoder: calls, notifications and batch members are all
//! written here, straight into a byte buffer.

use serde::Serialize;

/// Encodes one request (`id` given) or notification. `params` is an encoded
/// array or object, or `None` to send no params.
pub(crate) fn request(method: &str, params: Option<&[u8]>, id: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + method.len() + params.map_or(0, <[u8]>::len));
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut out, method);
    if let Some(p) = params {
        out.extend_from_slice(br#","params":"#);
        out.extend_from_slice(p);
    }
    if let Some(id) = id {
        out.extend_from_slice(br#","id":"#);
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.push(b'}');
    out
}

/// Encodes a notification whose params are any serializable value: an
/// array, tuple, struct or map travels as it is, `()` sends no params, and
/// a single scalar travels as a one-element array.
pub(crate) fn notification<P: Serialize>(
    method: &str,
    params: &P,
) -> Result<Vec<u8>, serde_json::Error> {
    let params = serde_json::to_vec(params)?;
    let params = match params.first() {
        Some(b'[' | b'{') => Some(params),
        _ if params == b"null" => None,
        _ => {
            let mut wrapped = Vec::with_capacity(params.len() + 2);
            wrapped.push(b'[');
            wrapped.extend_from_slice(&params);
            wrapped.push(b']');
            Some(wrapped)
        }
    };
    Ok(request(method, params.as_deref(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_params_take_the_shape_json_rpc_allows() {
        let text = |p: Vec<u8>| String::from_utf8(p).unwrap();
        assert_eq!(
            text(notification("tick", &[1]).unwrap()),
            r#"{"jsonrpc":"2.0","method":"tick","params":[1]}"#
        );
        assert_eq!(
            text(notification("m", &7).unwrap()),
            r#"{"jsonrpc":"2.0","method":"m","params":[7]}"#
        );
        assert_eq!(
            text(notification("m", &()).unwrap()),
            r#"{"jsonrpc":"2.0","method":"m"}"#
        );
        assert_eq!(
            text(request("a\"b", Some(b"{}"), Some(9))),
            r#"{"jsonrpc":"2.0","method":"a\"b","params":{},"id":9}"#
        );
    }
}
