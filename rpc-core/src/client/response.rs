//! Validating answers: one parser for responses, checks of `jsonrpc`, `id`
//! and exactly one of `result` and `error`, typed decoding.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::batch::BatchAnswer;
use super::{Error, InvalidResponse};
use crate::request::Members;
use crate::scan::first_byte;
use crate::{ErrorObject, Id};

/// A validated response: its id and its outcome (raw result or error).
struct Answer<'a> {
    id: Id,
    outcome: Result<&'a RawValue, ErrorObject>,
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => InvalidResponse::Shape(e).into(),
        _ => Error::NotJson {
            excerpt: preview(bytes),
            source: e,
        },
    })
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]);
    format!("{text:?}")
}

fn validate(raw: Members<'_>) -> Result<Answer<'_>, Error> {
    match raw.jsonrpc {
        Some(v) if v.get() == "\"2.0\"" => {}
        Some(v) => return Err(InvalidResponse::WrongVersion(excerpt(v.get())).into()),
        None => return Err(InvalidResponse::MissingVersion.into()),
    }
    let id = match raw.id {
        Some(id) => {
            Id::from_raw(id).ok_or_else(|| InvalidResponse::InvalidId(excerpt(id.get())))?
        }
        None => return Err(InvalidResponse::MissingId.into()),
    };
    // Some peers (node's json-rpc2) send the unused member as `null`: read
    // `"error": null` beside a result, or `"result": null` beside an error,
    // as absent. Two real members stay an error.
    let is_null = |v: &RawValue| v.get() == "null";
    let (result, error) = match (raw.result, raw.error) {
        (Some(result), Some(error)) if is_null(error) => (Some(result), None),
        (Some(result), Some(error)) if is_null(result) => (None, Some(error)),
        other => other,
    };
    let outcome = match (result, error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(serde_json::from_str::<ErrorObject>(error.get())
            .map_err(InvalidResponse::MalformedError)?),
        (Some(_), Some(_)) => return Err(InvalidResponse::BothResultAndError.into()),
        (None, None) => return Err(InvalidResponse::NeitherResultNorError.into()),
    };
    Ok(Answer { id, outcome })
}

/// Validates the answer to a single call with id `expected`.
pub(super) fn single_response<'a>(bytes: &'a [u8], expected: &Id) -> Result<&'a RawValue, Error> {
    if first_byte(bytes) != Some(b'{') {
        // Not an object: say whether it is JSON at all.
        parse_json::<serde::de::IgnoredAny>(bytes)?;
        return Err(InvalidResponse::NotAnObject(preview(bytes)).into());
    }
    let answer = validate(parse_json::<Members<'_>>(bytes)?)?;
    match answer.outcome {
        // A server that could not read our request answers with a null id.
        Err(obj) if answer.id == *expected || answer.id == Id::Null => Err(Error::Call(obj)),
        _ if answer.id != *expected => Err(Error::IdMismatch {
            expected: expected.clone(),
            got: answer.id,
        }),
        Ok(raw) => Ok(raw),
        Err(obj) => Err(Error::Call(obj)),
    }
}

pub(super) fn decode_result<T: DeserializeOwned>(method: &str, raw: &RawValue) -> Result<T, Error> {
    serde_json::from_str(raw.get()).map_err(|source| Error::Decode {
        method: method.to_owned(),
        source,
    })
}

/// Matches a batch answer's members to our ids.
pub(super) fn batch_answers(bytes: &[u8], ids: &[Id]) -> Result<Vec<BatchAnswer>, Error> {
    if first_byte(bytes) == Some(b'{') {
        // The server refused the batch as a whole.
        let answer = validate(parse_json::<Members<'_>>(bytes)?)?;
        return match answer.outcome {
            Err(obj) => Err(Error::Call(obj)),
            Ok(_) => Err(InvalidResponse::BatchAnsweredWithSingle.into()),
        };
    }
    let members: Vec<Members<'_>> = parse_json(bytes)?;
    let mut answers: Vec<BatchAnswer> = ids.iter().map(|_| None).collect();
    for member in members {
        let answer = validate(member)?;
        let Some(index) = ids.iter().position(|id| *id == answer.id) else {
            if let (Id::Null, Err(obj)) = (&answer.id, &answer.outcome) {
                return Err(Error::Call(obj.clone()));
            }
            return Err(InvalidResponse::UnknownBatchId(answer.id).into());
        };
        answers[index] = Some(match answer.outcome {
            Ok(raw) => Ok(raw.to_owned()),
            Err(obj) => Err(Error::Call(obj)),
        });
    }
    Ok(answers)
}

/// At most [`EXCERPT`] characters of `text` (a serde message can quote a
/// whole string the peer sent): an error message stays readable whatever
/// the peer sends.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Characters of a peer's text quoted in an error message.
const EXCERPT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_quote_only_an_excerpt_of_what_the_peer_sent() {
        let big = "x".repeat(100_000);
        let answer = format!(r#"{{"jsonrpc":"2.0","result":"{big}","id":1}}"#);
        let raw = single_response(answer.as_bytes(), &Id::from(1u64)).unwrap();
        let err = decode_result::<u64>("m", raw).unwrap_err();
        assert!(
            err.to_string().len() < 400,
            "{} bytes",
            err.to_string().len()
        );
        let answer = format!(r#"{{"jsonrpc":"2.0","error":"{big}","id":1}}"#);
        let err = single_response(answer.as_bytes(), &Id::from(1u64)).unwrap_err();
        assert!(
            err.to_string().len() < 400,
            "{} bytes",
            err.to_string().len()
        );
        let err = single_response(format!("{{{big}").as_bytes(), &Id::from(1u64)).unwrap_err();
        assert!(
            err.to_string().len() < 700,
            "{} bytes",
            err.to_string().len()
        );
    }
}
