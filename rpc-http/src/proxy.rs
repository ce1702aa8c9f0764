//! Clients through an HTTP proxy: a tunnel opened with `CONNECT` (RFC 9110
//! section 9.3.6), as browsers do for `ws://`, `wss://` and `https://`; plain
//! `http://` requests go to the proxy itself, with the target's absolute URL.

use ::http::Uri;
use rpc_core::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP proxy: where it listens, and the credentials it asks for.
#[derive(Clone)]
pub(crate) struct Proxy {
    /// `host:port` of the proxy.
    address: String,
    /// `Basic ...` for `Proxy-Authorization`, from the URL's user info.
    authorization: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credentials.
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .field("authorization", &self.authorization.as_ref().map(|_| "..."))
            .finish()
    }
}

/// The longest proxy answer to `CONNECT` read before giving up on it.
const MAX_ANSWER: usize = 8 * 1024;

impl Proxy {
    /// Reads `http://[user:password@]host[:port]` (port 80 by default).
    pub(crate) fn parse(url: &str) -> Result<Proxy, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: crate::redacted(url),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: ::http::uri::InvalidUri| invalid(&format!("not a proxy URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("a proxy URL starts with http://"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let (credentials, host) = match authority.as_str().rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, authority.as_str()),
        };
        if let Some(port) = bad_port(authority.as_str()) {
            return Err(invalid(&format!("`{port}` is not a port number")));
        }
        let address = match authority.port_u16() {
            Some(_) => host.to_owned(),
            None => format!("{}:80", host.trim_end_matches(':')),
        };
        Ok(Proxy {
            address,
            authorization: credentials.and_then(basic),
        })
    }

    /// `Basic ...` for `Proxy-Authorization`, when the URL had credentials.
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// A connection to the proxy itself.
    pub(crate) async fn connect(&self) -> Result<TcpStream, Error> {
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| connect_error(&format!("the proxy {}", self.address), e))?;
        crate::tune(&stream);
        Ok(stream)
    }

    /// A connection to `target` (`host:port`) through the proxy.
    pub(crate) async fn tunnel(&self, target: &str) -> Result<TcpStream, Error> {
        let mut stream = self.connect().await?;
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(authorization) = &self.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| Error::Connect(Box::new(e)))?;
        // Read the answer's head byte by byte: nothing of the tunnelled
        // stream may be consumed here.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() == MAX_ANSWER {
                return Err(refused("the proxy's answer is too long"));
            }
            let byte = stream
                .read_u8()
                .await
                .map_err(|e| Error::Connect(Box::new(e)))?;
            head.push(byte);
        }
        let status_line = head
            .split(|&b| b == b'\r')
            .next()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let status = status_line.split(' ').nth(1).unwrap_or_default();
        if status.len() == 3 && status.starts_with('2') {
            Ok(stream)
        } else {
            let line: String = status_line.chars().take(200).collect();
            Err(refused(&format!("the proxy refused the tunnel: {line}")))
        }
    }
}

/// The port of a URL's authority when it is there but no port number
/// (`http::Uri` takes `host:85450` and `host:80x` as having no port).
pub(crate) fn bad_port(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // After an IPv6 literal's `]`, if any.
    let after_host = host_port
        .rfind(']')
        .map_or(host_port, |i| &host_port[i + 1..]);
    let (_, port) = after_host.rsplit_once(':')?;
    (!port.is_empty() && port.parse::<u16>().is_err()).then_some(port)
}

/// A connection that could not be opened, naming where to.
pub(crate) fn connect_error(to: &str, e: std::io::Error) -> Error {
    Error::Connect(Box::new(std::io::Error::new(
        e.kind(),
        format!("{to}: {e}"),
    )))
}

/// `Basic ...` credentials from a URL's user info (`user[:password]`,
/// percent-encoded); none for empty user info.
pub(crate) fn basic(user_info: &str) -> Option<String> {
    use base64::Engine;
    if user_info.is_empty() {
        return None;
    }
    let mut credentials = percent_decoded(user_info);
    if !user_info.contains(':') {
        // RFC 7617: `user-id ":" password`, even when the password is empty.
        credentials.push(b':');
    }
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    ))
}

fn refused(reason: &str) -> Error {
    Error::Connect(reason.into())
}

/// User info as typed in a URL (`%40` for `@`), decoded.
pub(crate) fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_user_info_is_decoded_and_never_shown() {
        assert_eq!(percent_decoded("ann:p%40ss%3Aw"), b"ann:p@ss:w");
        assert_eq!(percent_decoded("50%"), b"50%");
        let p = Proxy::parse("http://ann:p%40ss@proxy.local:3128").unwrap();
        assert_eq!(p.authorization.as_deref(), Some("Basic YW5uOnBAc3M="));
        let Err(Error::InvalidUrl { url, .. }) = Proxy::parse("socks5://ann:secret@proxy.local")
        else {
            panic!("accepted")
        };
        assert!(!url.contains("secret"), "{url}");
    }

    #[test]
    fn user_info_without_a_password_keeps_the_colon() {
        // `apikey:` and `:`-less user info alike, as RFC 7617 and browsers send them.
        assert_eq!(basic("apikey").as_deref(), Some("Basic YXBpa2V5Og=="));
        assert_eq!(basic("apikey:").as_deref(), Some("Basic YXBpa2V5Og=="));
        assert_eq!(basic(""), None);
        assert_eq!(bad_port("host:85450"), Some("85450"));
        assert_eq!(bad_port("u:p@host:80x"), Some("80x"));
        assert_eq!(bad_port("u:p@host:8080"), None);
        assert_eq!(bad_port("[::1]:3000"), None);
        assert_eq!(bad_port("[::1]"), None);
        assert_eq!(bad_port("[::1]:x"), Some("x"));
        assert_eq!(bad_port("host"), None);
        assert_eq!(bad_port("host:"), None);
        assert!(matches!(
            Proxy::parse("http://proxy.local:31280x"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            Proxy::parse("http://proxy.local:99999"),
            Err(Error::InvalidUrl { .. })
        ));
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://ann:s3cret@proxy.local:3128").unwrap();
        assert_eq!(p.address, "proxy.local:3128");
        assert_eq!(p.authorization.as_deref(), Some("Basic YW5uOnMzY3JldA=="));
        assert!(!format!("{p:?}").contains("YW5u"));
        assert_eq!(
            Proxy::parse("http://proxy.local").unwrap().address,
            "proxy.local:80"
        );
        assert!(matches!(
            Proxy::parse("socks5://proxy.local:1080"),
            Err(Error::InvalidUrl { .. })
        ));
    }
}
