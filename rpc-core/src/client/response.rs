//! Reading answers: the one message parser's replies matched to our calls,
//! then typed decoding.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{Error, InvalidResponse};
use crate::protocol::message::{self, Message, Rejected, Reply};
use crate::protocol::EXCERPT;
use crate::protocol::{Id, Limits};

/// One call's raw answer within a batch answer (`None`: the server left it out).
pub type BatchAnswer = Option<Result<Box<RawValue>, Error>>;

/// A peer's answer to a request or batch, as a [`Transport`](super::Transport)
/// hands it to the client engine: the bytes received (the engine parses
/// them), or replies the duplex engine parsed already to route them.
///
/// ```
/// let answer = rpc_core::Answer::from(br#"{"jsonrpc":"2.0","result":3,"id":1}"#.to_vec());
/// # let _ = answer;
/// ```
pub struct Answer(Inner);

enum Inner {
    Bytes(Bytes),
    Parsed {
        batch: bool,
        replies: Vec<Reply<Box<RawValue>>>,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Bytes(bytes) => f.debug_tuple("Answer").field(bytes).finish(),
            Inner::Parsed { replies, .. } => f.debug_tuple("Answer").field(replies).finish(),
        }
    }
}

impl From<Bytes> for Answer {
    fn from(bytes: Bytes) -> Self {
        Answer(Inner::Bytes(bytes))
    }
}

impl From<Vec<u8>> for Answer {
    fn from(bytes: Vec<u8>) -> Self {
        Answer(Inner::Bytes(bytes.into()))
    }
}

impl Answer {
    /// Replies already parsed (by the duplex engine, which routes them).
    pub(crate) fn parsed(batch: bool, replies: Vec<Reply<Box<RawValue>>>) -> Self {
        Answer(Inner::Parsed { batch, replies })
    }

    /// The result of the single call `expected`, decoded.
    pub(super) fn result<T: DeserializeOwned>(
        self,
        method: &str,
        expected: &Id,
    ) -> Result<T, Error> {
        match self.0 {
            Inner::Bytes(bytes) => {
                let (batch, replies) = replies(&bytes)?;
                decode_result(method, single(batch, replies, expected)?)
            }
            Inner::Parsed { batch, replies } => {
                decode_result(method, &single(batch, replies, expected)?)
            }
        }
    }

    /// Each call's raw answer in a batch answer, in the order of `ids`.
    pub(super) fn batch(self, ids: &[Id]) -> Result<Vec<BatchAnswer>, Error> {
        match self.0 {
            Inner::Bytes(bytes) => {
                let (batch, replies) = replies(&bytes)?;
                match_batch(batch, replies, ids)
            }
            Inner::Parsed { batch, replies } => match_batch(batch, replies, ids),
        }
    }
}

/// A raw result, borrowed from the answer's bytes or owned.
trait Raw {
    fn into_box(self) -> Box<RawValue>;
}

impl Raw for &RawValue {
    fn into_box(self) -> Box<RawValue> {
        self.to_owned()
    }
}

impl Raw for Box<RawValue> {
    fn into_box(self) -> Box<RawValue> {
        self
    }
}

/// Parses an answer with the one message parser; whether it is a batch.
fn replies(bytes: &[u8]) -> Result<(bool, Vec<Reply<&RawValue>>), Error> {
    // Answers are never limited by length or depth: only calls are.
    match message::parse(bytes, &Limits::default()) {
        Ok(Message::Single(entry)) => Ok((false, vec![entry.into_reply()])),
        Ok(Message::Batch(entries)) => {
            Ok((true, entries.into_iter().map(|e| e.into_reply()).collect()))
        }
        Err(Rejected::NotJson(source)) => Err(Error::NotJson {
            excerpt: preview(bytes),
            source,
        }),
        Err(Rejected::Shape(source)) => Err(InvalidResponse::Shape(source).into()),
        Err(_) => Err(InvalidResponse::NotAnObject(preview(bytes)).into()),
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]);
    format!("{text:?}")
}

/// The raw result of the single call `expected`.
fn single<R>(batch: bool, replies: Vec<Reply<R>>, expected: &Id) -> Result<R, Error> {
    if batch {
        return Err(InvalidResponse::NotAnObject("a batch array".into()).into());
    }
    let reply = replies.into_iter().next().ok_or(InvalidResponse::Empty)?;
    // An `Ok` outcome always has a valid id.
    let id = reply.id.unwrap_or(Id::Null);
    match reply.outcome? {
        // A server that could not read our request answers with a null id.
        Err(obj) if id == *expected || id == Id::Null => Err(Error::Call(obj)),
        _ if id != *expected => Err(Error::IdMismatch {
            expected: expected.clone(),
            got: id,
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
fn match_batch<R: Raw>(
    batch: bool,
    replies: Vec<Reply<R>>,
    ids: &[Id],
) -> Result<Vec<BatchAnswer>, Error> {
    if !batch {
        // The server refused the batch as a whole.
        let reply = replies.into_iter().next().ok_or(InvalidResponse::Empty)?;
        return match reply.outcome? {
            Err(obj) => Err(Error::Call(obj)),
            Ok(_) => Err(InvalidResponse::BatchAnsweredWithSingle.into()),
        };
    }
    let mut answers: Vec<BatchAnswer> = ids.iter().map(|_| None).collect();
    for reply in replies {
        let outcome = reply.outcome?;
        let id = reply.id.unwrap_or(Id::Null);
        let Some(index) = ids.iter().position(|mine| *mine == id) else {
            if let (Id::Null, Err(obj)) = (&id, &outcome) {
                return Err(Error::Call(obj.clone()));
            }
            return Err(InvalidResponse::UnknownBatchId(id).into());
        };
        answers[index] = Some(match outcome {
            Ok(raw) => Ok(raw.into_box()),
            Err(obj) => Err(Error::Call(obj)),
        });
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_quote_only_an_excerpt_of_what_the_peer_sent() {
        let big = "x".repeat(100_000);
        // The error's text for `answer`, as a call of `m` with id 1 gets it.
        let error_text = |answer: String| {
            Answer::from(answer.into_bytes())
                .result::<u64>("m", &Id::from(1u64))
                .unwrap_err()
                .to_string()
        };
        for (answer, most) in [
            (
                format!(r#"{{"jsonrpc":"2.0","result":"{big}","id":1}}"#),
                400,
            ),
            (
                format!(r#"{{"jsonrpc":"2.0","error":"{big}","id":1}}"#),
                400,
            ),
            (format!("{{{big}"), 700),
        ] {
            let text = error_text(answer);
            assert!(text.len() < most, "{} bytes", text.len());
        }
    }
}
