//! Credentials a caller presents over HTTP: `Authorization: Bearer TOKEN`
//! or `Basic ...` on a POST or on the WebSocket upgrade, or, from a browser
//! (whose WebSocket API cannot set headers), the subprotocol
//! `bearer.TOKEN` offered beside `jsonrpc`:
//! `new WebSocket(url, ["jsonrpc", "bearer." + token])`. A server's
//! authentication turns them into [`Roles`](rpc_core::auth::Roles).

use std::sync::Arc;

use base64::Engine;
use http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use http::HeaderMap;
use rpc_core::auth::Roles;

/// What a caller presented to prove who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer TOKEN`, or the WebSocket subprotocol `bearer.TOKEN`.
    Bearer(String),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        match self {
            Credentials::Bearer(_) => f.write_str("Bearer(..)"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ..)"),
        }
    }
}

impl Credentials {
    /// The credentials in a request's headers: `Authorization` first, then
    /// a `bearer.` WebSocket subprotocol. `None` when there are none, or
    /// they are malformed.
    ///
    /// ```
    /// use rpc_http::http::{Credentials, HeaderMap};
    /// let mut headers = HeaderMap::new();
    /// headers.insert("authorization", "Basic YW5uOnMzY3JldA==".parse().unwrap());
    /// assert_eq!(
    ///     Credentials::from_headers(&headers),
    ///     Some(Credentials::Basic { user: "ann".into(), password: "s3cret".into() })
    /// );
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Option<Credentials> {
        if let Some(value) = headers.get(AUTHORIZATION) {
            let value = value.to_str().ok()?.trim();
            let (scheme, rest) = value.split_once(' ')?;
            let rest = rest.trim();
            return if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
                Some(Credentials::Bearer(rest.to_owned()))
            } else if scheme.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()?;
                let text = String::from_utf8(decoded).ok()?;
                let (user, password) = text.split_once(':')?;
                Some(Credentials::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                })
            } else {
                None
            };
        }
        headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|p| p.trim().strip_prefix("bearer."))
            .filter(|token| !token.is_empty())
            .map(|token| Credentials::Bearer(token.to_owned()))
    }
}

/// A server's authentication: the roles the credentials grant, if any.
pub(crate) type Authenticate = Arc<dyn Fn(&Credentials) -> Option<Roles> + Send + Sync>;
