//! How an answer breaks JSON-RPC 2.0, as the parser finds it and a client
//! reports it, with short excerpts of what the peer sent.

use super::id::Id;

/// How an answer breaks JSON-RPC 2.0.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidResponse {
    /// No `"jsonrpc": "2.0"` member.
    #[error("missing `jsonrpc`")]
    MissingVersion,
    /// `jsonrpc` is not `"2.0"` (an excerpt of what it is).
    #[error("`jsonrpc` is {0}, expected \"2.0\"")]
    WrongVersion(String),
    /// No `id` member.
    #[error("missing `id`")]
    MissingId,
    /// An `id` that is not a string, a number or null (an excerpt).
    #[error("invalid id {0}")]
    InvalidId(String),
    /// Both `result` and `error`, neither of them `null`.
    #[error("both `result` and `error` present")]
    BothResultAndError,
    /// Neither `result` nor `error`.
    #[error("neither `result` nor `error` present")]
    NeitherResultNorError,
    /// An `error` member that is not an error object.
    #[error("malformed error object: {}", excerpt(&.0.to_string()))]
    MalformedError(#[source] serde_json::Error),
    /// A member of the wrong type, or a value that is not a response object.
    #[error("not a response: {}", excerpt(&.0.to_string()))]
    Shape(#[source] serde_json::Error),
    /// A single call answered with an array, or a value that is no object.
    #[error("expected a response object, got {0}")]
    NotAnObject(String),
    /// A batch answered with a single result.
    #[error("a batch was answered with a single result")]
    BatchAnsweredWithSingle,
    /// A batch answer whose member has an id we did not send.
    #[error("batch answer has unknown id {0}")]
    UnknownBatchId(Id),
    /// A batch answer without an answer for one of its calls.
    #[error("batch answer has no response for `{0}`")]
    MissingBatchMember(String),
    /// No answer at all to a request (a transport that returned nothing).
    #[error("no response to a request")]
    Empty,
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
pub(crate) const EXCERPT: usize = 200;
