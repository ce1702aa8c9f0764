//! Starting one call of a method: its role check, then its handler (which
//! decodes the params); `rpc.discover`; or "method not found". The one
//! definition that the dispatcher's direct path and the bottom of the
//! middleware share.

use serde_json::value::RawValue;

use super::subscription::Caller;
use super::{auth, discover, MethodFuture, MethodResult, MethodTable};
use crate::protocol::{code, Context, ErrorObject, Params};

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
            // A subscription's items need a connection to push on: said
            // with the method's name, before its handler runs.
            Ok(()) if method.info.subscription.is_some() && ctx.get::<Caller>().is_none() => {
                Begun::Done(Err(ErrorObject::new(
                    code::DUPLEX_REQUIRED,
                    format!(
                        "`{name}` is a subscription: call it over a duplex connection (WebSocket or TCP)"
                    ),
                )))
            }
            Ok(()) => Begun::Running((method.handler)(params, ctx)),
            Err(refused) => Begun::Done(Err(refused)),
        },
        None if name == discover::METHOD => Begun::Done(Ok(discovery())),
        None => Begun::Done(Err(ErrorObject::method_not_found(name))),
    }
}
