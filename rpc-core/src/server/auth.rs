//! Authorization declared on methods: a method may require a role
//! (`#[rpc(requires = "admin")]`), and the caller's [`Roles`] in the request
//! [`Context`] decide. Authentication (who the caller is) belongs to the
//! transport or to an HTTP layer: whatever it is, it puts [`Roles`] into
//! the context (over HTTP, into the request's extensions). The check runs
//! before the params are decoded and the handler runs, below every call
//! layer (so middleware, a rate limit say, sees unauthorized calls too);
//! a call without the role is answered -32001 "Unauthorized", that call only.

use std::sync::Arc;

use crate::protocol::{code, Context, ErrorObject};
use crate::server::MethodInfo;

/// The roles a caller holds.
///
/// ```
/// use rpc_core::auth::Roles;
/// let roles = Roles::new(["admin", "ops"]);
/// assert!(roles.contains("admin"));
/// assert!(!Roles::default().contains("admin"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles(Arc<[Box<str>]>);

impl Roles {
    /// Holds each of `roles`.
    pub fn new<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Roles(roles.into_iter().map(Into::into).collect())
    }

    /// Whether `role` is among them.
    pub fn contains(&self, role: &str) -> bool {
        self.0.iter().any(|r| &**r == role)
    }
}

/// The answer to a call whose caller lacks the method's role.
pub fn unauthorized() -> ErrorObject {
    ErrorObject::new(code::UNAUTHORIZED, "Unauthorized")
}

/// Whether the caller in `ctx` may call the method `info` describes.
pub(crate) fn check(info: &MethodInfo, ctx: &Context) -> Result<(), ErrorObject> {
    match &info.requires {
        None => Ok(()),
        Some(role) if ctx.get::<Roles>().is_some_and(|roles| roles.contains(role)) => Ok(()),
        Some(_) => Err(unauthorized()),
    }
}
