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

impl Credentials {
    /// Whether these are `Bearer` credentials holding exactly `token`,
    /// compared in constant time (how long it takes depends only on the
    /// length of what the caller sent, never on where it differs from
    /// `token`, nor on `token` itself): what to test a secret with rather
    /// than `==`, which stops at the first differing byte.
    ///
    /// ```
    /// use rpc_http::http::Credentials;
    /// let given = Credentials::Bearer("s3cret".into());
    /// assert!(given.is_bearer("s3cret"));
    /// assert!(!given.is_bearer("s3cre") && !given.is_bearer("s3cret!"));
    /// ```
    pub fn is_bearer(&self, token: &str) -> bool {
        match self {
            Credentials::Bearer(given) => same_secret(given.as_bytes(), token.as_bytes()),
            Credentials::Basic { .. } => false,
        }
    }

    /// Whether these are `Basic` credentials of `user` with `password`,
    /// both compared in constant time, as [`is_bearer`](Self::is_bearer).
    pub fn is_basic(&self, user: &str, password: &str) -> bool {
        match self {
            Credentials::Basic {
                user: given_user,
                password: given_password,
            } => {
                // `&`, not `&&`: both are compared whatever the first says.
                same_secret(given_user.as_bytes(), user.as_bytes())
                    & same_secret(given_password.as_bytes(), password.as_bytes())
            }
            Credentials::Bearer(_) => false,
        }
    }
}

/// `given == expected` in constant time: every byte of `given` (which the
/// caller chose, length included) is compared, against `expected` repeated,
/// and a length difference is folded in, so the time taken tells nothing
/// of `expected` nor of where the two differ.
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = given.len() ^ expected.len();
    // With `expected` empty, nothing is compared and only the lengths count.
    for (g, e) in given.iter().zip(expected.iter().cycle()) {
        difference |= usize::from(g ^ e);
    }
    // Keeps the compiler from turning the loop into an early exit.
    std::hint::black_box(difference) == 0
}

/// A server's authentication: the roles the credentials grant, if any.
pub(crate) type Authenticate = Arc<dyn Fn(&Credentials) -> Option<Roles> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(same_secret(b"", b""));
        for (given, expected) in [
            ("s3cret", "s3creT"),
            ("s3cre", "s3cret"),
            ("s3cret!", "s3cret"),
            // `expected` repeated would match: the lengths still differ.
            ("s3crets3cret", "s3cret"),
            ("", "s3cret"),
            ("s3cret", ""),
            ("\0", ""),
        ] {
            assert!(
                !same_secret(given.as_bytes(), expected.as_bytes()),
                "{given:?} {expected:?}"
            );
        }
    }

    #[test]
    fn credentials_are_checked_by_kind() {
        let bearer = Credentials::Bearer("t0ken".into());
        assert!(bearer.is_bearer("t0ken"));
        assert!(!bearer.is_bearer("t0ke") && !bearer.is_bearer("t0kenn"));
        assert!(!bearer.is_basic("t0ken", "t0ken"));
        let basic = Credentials::Basic {
            user: "ann".into(),
            password: "pw".into(),
        };
        assert!(basic.is_basic("ann", "pw"));
        assert!(!basic.is_basic("ann", "pW") && !basic.is_basic("bob", "pw"));
        assert!(!basic.is_bearer("pw"));
    }
}
