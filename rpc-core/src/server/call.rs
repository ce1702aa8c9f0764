//! Starting one call of a method: its role check, then its handler (which
//! decodes the params); `rpc.discover`; or "method not found". The one
//! definition that the dispatcher's direct path and the bottom of the
//! middleware share.

use serde_json::value::RawValue;

use super::{auth, discover, MethodFuture, MethodResult, MethodTable};
use crate::protocol::{Context, ErrorObject, Params};

/// How a call of one method starts.
pub(crate) enum Begun {
    /// Its handler runs.
    Running(MethodFuture),
    /// Answered at once: refused, discovery, or no such method.
    Done(MethodResult),
}

/// Starts a call of `name`: the method's role check, then its handler
/// (which decodes `params`); `rpc.discover`; or "method not found". The
/// one definition the direct path and the middleware's bottom share.
pub(crate) fn begin(
    methods: &MethodTable,
    name: &str,
    params: Params<'_>,
    ctx: &Context,
    discovery: impl FnOnce() -> Box<RawValue>,
) -> Begun {
    match methods.get(name) {
        Some(method) => match auth::check(&method.info, ctx) {
            Ok(()) => Begun::Running((method.handler)(params, ctx)),
            Err(refused) => Begun::Done(Err(refused)),
        },
        None if name == discover::METHOD => Begun::Done(Ok(discovery())),
        None => Begun::Done(Err(ErrorObject::method_not_found(name))),
    }
}
