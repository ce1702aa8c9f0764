//! The HTTP client transport: one POST per message, on a `reqwest::Client`
//! (its connection pool, TLS, proxies and HTTP/2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::http::header::{self, HeaderMap, HeaderValue};
use ::http::{Method, StatusCode};
use bytes::{Bytes, BytesMut};
use reqwest::Url;
use rpc_core::{Answer, BoxFuture, ConfigError, Error, Outgoing, Transport};

use super::StatusError;
use crate::tls::ExtraRoots;
use crate::Described;

/// How long a connection may stay unused before the client closes it:
/// below the keep-alive timeouts of common servers (node's 5 s, this
/// crate's 7.5 s), so that a call is rarely sent on a connection that the
/// server is closing at that very moment.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Sends JSON-RPC messages as HTTP POST requests, on a [`reqwest::Client`]:
/// its pool keeps connections open between calls (idle ones close after
/// 4 s, see [`with_idle_timeout`](Self::with_idle_timeout)), and it brings
/// TLS (rustls, trusting the Mozilla roots and the platform's), HTTP/2
/// over TLS, and proxies (see [`with_proxy`](Self::with_proxy)).
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let http = rpc_http::http::HttpClient::new("http://127.0.0.1:3000/")?
///     .with_header("authorization", "Bearer s3cret")?;
/// let client = rpc_core::Client::new(http);
/// # Ok(()) }
/// ```
///
/// User info in the URL (`http://user:password@host/`) is sent as Basic
/// credentials. Each call carries its deadline (the `rpc-timeout-ms`
/// header) and gives up when it passes; answers are capped at 5 MiB
/// ([`with_max_response_bytes`](Self::with_max_response_bytes)), checked
/// as they stream in. Redirects are not followed (a 3xx is a
/// [`StatusError`]). Clones share their connections.
///
/// A `reqwest::Client` of your own, with any of reqwest's settings (client
/// certificates, a DNS resolver, HTTP/2 only...), goes in with
/// [`from_client`](Self::from_client).
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// The endpoint, without user info.
    url: Url,
    /// Sent with every request: `Content-Type`, the URL's credentials and
    /// the headers the user set.
    headers: HeaderMap,
    max_response_bytes: usize,
    /// What `client` was built from; `None` for a client handed in.
    settings: Option<Arc<Settings>>,
}

/// What the `reqwest::Client` of an [`HttpClient`] is built from.
#[derive(Clone)]
struct Settings {
    roots: ExtraRoots,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The proxy, and its URL without credentials (for `Debug`).
    proxy: Option<(reqwest::Proxy, String)>,
    idle_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            roots: ExtraRoots::default(),
            tls: None,
            proxy: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl Settings {
    fn build(&self) -> Result<reqwest::Client, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(crate::CONNECT_TIMEOUT)
            .pool_idle_timeout(self.idle_timeout)
            // As every connection of this crate: no Nagle delay, and a
            // peer gone without a word noticed within about a minute.
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_keepalive_interval(Duration::from_secs(10))
            .tcp_keepalive_retries(3)
            // A JSON-RPC endpoint is one URL; a redirect (which would turn
            // a POST into a GET) is reported as its status.
            .redirect(reqwest::redirect::Policy::none())
            // Whether a failed call is sent again is decided in one place,
            // `RetryLayer`, which knows which calls are idempotent (reqwest
            // would retry refused HTTP/2 streams of any call, and copies
            // every request's headers beforehand to be able to).
            .retry(reqwest::retry::never().max_retries_per_request(0));
        // TLS (also to an `https://` proxy): the caller's configuration,
        // or rustls with the roots every client of this crate trusts, read
        // once per process. An empty ALPN list offers HTTP/2 and HTTP/1.1,
        // as reqwest does with its own.
        let mut tls = match &self.tls {
            Some(config) => rustls::ClientConfig::clone(config),
            None => crate::tls::client_config(&self.roots)?,
        };
        if tls.alpn_protocols.is_empty() {
            tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        builder = builder.use_preconfigured_tls(tls);
        if let Some((proxy, _)) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        builder.build().map_err(|e| ConfigError::Setting {
            setting: "HTTP client",
            source: Box::new(Described::new(None, e)),
        })
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out: header values set as sensitive print as
        // such, a proxy's URL is shown without its user info.
        let mut out = f.debug_struct("HttpClient");
        out.field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("max_response_bytes", &self.max_response_bytes);
        match &self.settings {
            Some(settings) => out
                .field("own_tls", &settings.tls.is_some())
                .field("proxy", &settings.proxy.as_ref().map(|(_, url)| url))
                .field("idle_timeout", &settings.idle_timeout),
            None => out.field("client", &"handed in"),
        };
        out.finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for the endpoint at `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let settings = Settings::default();
        let client = settings.build()?;
        HttpClient::with_parts(client, url, Some(Arc::new(settings)))
    }

    /// A client for the endpoint at `url` that sends its calls with
    /// `client`: your own reqwest settings (client certificates, timeouts,
    /// a resolver, proxies, HTTP/2 only) apply. The settings of this type
    /// that build a `reqwest::Client` ([`with_proxy`](Self::with_proxy),
    /// [`with_root_certificates`](Self::with_root_certificates),
    /// [`with_tls_config`](Self::with_tls_config),
    /// [`with_idle_timeout`](Self::with_idle_timeout)) then answer
    /// [`ConfigError::Setting`](ConfigError::Setting): set them on `client`. [`reqwest`](crate::http::reqwest)
    /// is the version this crate uses.
    ///
    /// ```
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use rpc_http::http::{reqwest, HttpClient};
    /// let client = reqwest::Client::builder()
    ///     .http2_prior_knowledge()
    ///     .build()?;
    /// let http = HttpClient::from_client(client, "http://127.0.0.1:3000/")?;
    /// # Ok(()) }
    /// ```
    pub fn from_client(client: reqwest::Client, url: &str) -> Result<Self, ConfigError> {
        HttpClient::with_parts(client, url, None)
    }

    fn with_parts(
        client: reqwest::Client,
        url: &str,
        settings: Option<Arc<Settings>>,
    ) -> Result<Self, ConfigError> {
        let mut url = endpoint(url)?;
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // User info becomes Basic credentials; the URL kept is without it.
        if let Some(credentials) = basic_credentials(&url) {
            headers.insert(header::AUTHORIZATION, credentials);
            // Both succeed on an http(s) URL, which has a host.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        url.set_fragment(None);
        Ok(HttpClient {
            client,
            url,
            headers,
            max_response_bytes: rpc_core::DEFAULT_MAX_MESSAGE,
            settings,
        })
    }

    /// The `reqwest::Client` rebuilt with a changed setting; refused for a
    /// client handed in, whose settings are its owner's.
    fn rebuild(
        mut self,
        setting: &'static str,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Self, ConfigError> {
        let Some(settings) = &self.settings else {
            return Err(ConfigError::Setting {
                setting,
                source: "this client sends with a reqwest::Client handed in \
                         (HttpClient::from_client): set it on that client"
                    .into(),
            });
        };
        let mut settings = Settings::clone(settings);
        change(&mut settings);
        self.client = settings.build()?;
        self.settings = Some(Arc::new(settings));
        Ok(self)
    }

    /// Adds a header sent with every request (e.g. `Authorization`).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let (name, value) = crate::header(name, value)?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Trusts the certificate authorities of a PEM document (for `https://`
    /// servers, and `https://` proxies, with a private CA or a self-signed
    /// certificate), beside the Mozilla roots and the platform's.
    pub fn with_root_certificates(self, pem: &[u8]) -> Result<Self, ConfigError> {
        let mut roots = match &self.settings {
            Some(settings) => settings.roots.clone(),
            None => ExtraRoots::default(),
        };
        roots.add_pem(pem)?;
        self.rebuild("root certificate", |settings| settings.roots = roots)
    }

    /// Uses `config` for TLS (client certificates, other roots, a crypto
    /// provider of your choice) instead of rustls with the Mozilla and
    /// platform roots and any [`with_root_certificates`](Self::with_root_certificates).
    /// It must come from the rustls version this crate uses (0.23); an
    /// empty ALPN list becomes `h2` and `http/1.1`.
    pub fn with_tls_config(self, config: Arc<rustls::ClientConfig>) -> Result<Self, ConfigError> {
        self.rebuild("TLS", |settings| settings.tls = Some(config))
    }

    /// Sends every request through the proxy at `url`
    /// (`http://[user:password@]host[:port]`, or `https://` for a proxy
    /// reached over TLS), instead of those the environment names.
    ///
    /// Without it, the environment's proxies apply, as for any reqwest
    /// client: `HTTP_PROXY` for `http://` endpoints, `HTTPS_PROXY` for
    /// `https://` ones (`ALL_PROXY` for both), except for the hosts in
    /// `NO_PROXY`. `https://` endpoints are reached through a `CONNECT`
    /// tunnel, `http://` ones by asking the proxy for the whole URL.
    pub fn with_proxy(self, url: &str) -> Result<Self, ConfigError> {
        let shown = crate::redacted(url);
        let invalid = |reason: String| ConfigError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| invalid(crate::url_error(e)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "unsupported proxy scheme `{}`; expected http or https",
                parsed.scheme()
            )));
        }
        let proxy = reqwest::Proxy::all(parsed).map_err(|e| invalid(e.to_string()))?;
        self.rebuild("proxy", |settings| settings.proxy = Some((proxy, shown)))
    }

    /// How long a connection may stay unused before it is closed (default
    /// 4 s: below the keep-alive timeouts of common servers, node's 5 s and
    /// this crate's own, so that a call is rarely sent on a connection the
    /// server is closing at that moment).
    pub fn with_idle_timeout(self, idle: Duration) -> Result<Self, ConfigError> {
        self.rebuild("idle timeout", |settings| settings.idle_timeout = idle)
    }

    /// Largest answer accepted (default 5 MiB, the servers' message limit);
    /// a larger one fails the call with [`Error::ResponseTooLarge`] without
    /// being read further.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The request for `message`: the endpoint's headers, those a client
    /// layer put on the message, the deadline and the trace.
    fn request(&self, message: Outgoing) -> reqwest::Request {
        let mut request = reqwest::Request::new(Method::POST, self.url.clone());
        let mut headers = self.headers.clone();
        let context = &message.context;
        // Headers a client layer put on this message.
        let layer_headers = context.get::<HeaderMap>();
        if let Some(extra) = layer_headers {
            // Each name replaces the endpoint's, keeping all its values.
            for name in extra.keys() {
                headers.remove(name);
            }
            for (name, value) in extra {
                headers.append(name, value.clone());
            }
        }
        // The caller's deadline, for the server to give up early. This
        // request gives up with the call: the engine's timeout drops it at
        // the deadline (a reqwest timeout too would be a second timer and
        // three allocations per call).
        if let Some(deadline) = context.get::<rpc_core::Deadline>() {
            let left = deadline.0.saturating_duration_since(Instant::now());
            let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            headers.insert(rpc_core::DEADLINE_HEADER, HeaderValue::from(millis));
        }
        // The trace this call belongs to: one a layer set, else (with the
        // `otel` feature) the current span's.
        let parent = context.get::<rpc_core::trace::TraceParent>().copied();
        #[cfg(feature = "otel")]
        let parent = parent.or_else(rpc_core::trace::current);
        let layer_set_one = layer_headers.is_some_and(|h| h.contains_key("traceparent"));
        if let Some(parent) = parent.filter(|_| !layer_set_one) {
            if let Ok(value) = HeaderValue::from_str(&parent.to_header()) {
                headers.insert("traceparent", value);
            }
        }
        *request.headers_mut() = headers;
        *request.body_mut() = Some(Bytes::from(message.body).into());
        request
    }

    /// Sends `message`; the answer's status and body, read once and never
    /// past the size limit.
    async fn post(&self, message: Outgoing) -> Result<(StatusCode, Bytes), Error> {
        let failed = |e| self.failed(e);
        let request = self.request(message);
        let mut response = self.client.execute(request).await.map_err(failed)?;
        let status = response.status();
        let limit = self.max_response_bytes;
        let too_large = || Error::ResponseTooLarge { limit };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        // Most answers come in one piece: kept as it is, no copy.
        let Some(first) = response.chunk().await.map_err(failed)? else {
            return Ok((status, Bytes::new()));
        };
        if first.len() > limit {
            return Err(too_large());
        }
        let Some(second) = response.chunk().await.map_err(failed)? else {
            return Ok((status, first));
        };
        let expected = announced.map_or(0, |len| len as usize);
        let mut body = BytesMut::with_capacity(expected.max(first.len() + second.len()));
        let mut next = Some(second);
        body.extend_from_slice(&first);
        while let Some(chunk) = next {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
            next = response.chunk().await.map_err(failed)?;
        }
        Ok((status, body.freeze()))
    }

    /// A failed request as the caller's error: a connection that could
    /// not be made (in time), or a transport failure; each naming the URL
    /// (reqwest's message does) and every cause.
    fn failed(&self, e: reqwest::Error) -> Error {
        // Our own client's connect timeout; a client handed in has its own,
        // told in the message.
        if e.is_connect() && e.is_timeout() && self.settings.is_some() {
            return Error::Timeout(crate::CONNECT_TIMEOUT);
        }
        if e.is_connect() {
            Error::Connect(Box::new(Described::new(None, e)))
        } else {
            Error::Transport(Box::new(Described::new(None, e)))
        }
    }
}

/// The endpoint's URL, checked: `http://` or `https://` with a host.
fn endpoint(url: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidUrl {
        url: crate::redacted(url),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| invalid(crate::url_error(e)))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "unsupported scheme `{}`; expected http or https",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(parsed)
}

/// `Basic ...` from the URL's user info (`user[:password]`, as typed:
/// percent-encoded), marked sensitive; none without user info.
fn basic_credentials(url: &Url) -> Option<HeaderValue> {
    use base64::Engine;
    use percent_encoding::percent_decode_str;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    // RFC 7617: `user-id ":" password`, even when the password is empty.
    let mut credentials: Vec<u8> = percent_decode_str(url.username()).collect();
    credentials.push(b':');
    credentials.extend(percent_decode_str(url.password().unwrap_or_default()));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Whether an error-status body carries a JSON-RPC answer (some servers
/// send errors with 4xx/5xx): a JSON object or array naming `jsonrpc`.
/// Decided from the bytes; the engine then parses them, once, and reports
/// the server's error (or what is wrong with the answer).
fn is_jsonrpc(body: &[u8]) -> bool {
    let starts_as_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    const MEMBER: &[u8] = b"\"jsonrpc\"";
    starts_as_json && body.windows(MEMBER.len()).any(|w| w == MEMBER)
}

fn status_error(status: StatusCode, body: &[u8]) -> Error {
    Error::Transport(Box::new(StatusError::new(status.as_u16(), body)))
}

impl Transport for HttpClient {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        Box::pin(async move {
            let notification = message.ids.is_empty();
            let (status, body) = self.post(message).await?;
            match (status.is_success(), notification) {
                (true, true) => Ok(None),
                (true, false) if body.is_empty() => Err(rpc_core::InvalidResponse::Empty.into()),
                // An error status with a JSON-RPC body: the body is the answer.
                (_, false) if status.is_success() || is_jsonrpc(&body) => Ok(Some(body.into())),
                _ => Err(status_error(status, &body)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_becomes_basic_credentials_keeping_the_colon() {
        let basic = |url: &str| basic_credentials(&Url::parse(url).unwrap());
        // `ann:p@ss`, typed escaped.
        assert_eq!(
            basic("http://ann:p%40ss@host/").unwrap(),
            "Basic YW5uOnBAc3M="
        );
        // `apikey:`, as RFC 7617 and browsers send a user without password.
        assert_eq!(basic("http://apikey@host/").unwrap(), "Basic YXBpa2V5Og==");
        assert_eq!(basic("http://apikey:@host/").unwrap(), "Basic YXBpa2V5Og==");
        assert!(basic("http://host/").is_none());
        assert!(basic("http://ann:p%40ss@host/").unwrap().is_sensitive());
    }

    #[test]
    fn endpoints_are_http_urls_with_a_host_and_a_port_number() {
        for (url, reason) in [
            ("ftp://x/", "unsupported scheme `ftp`"),
            ("not a url", "no scheme"),
            ("http://127.0.0.1:85450/", "not a port number"),
            ("https://example.com:4433x/", "not a port number"),
            ("http:///", "no host"),
        ] {
            let Err(ConfigError::InvalidUrl { reason: got, .. }) = endpoint(url) else {
                panic!("{url} accepted");
            };
            assert!(got.contains(reason), "{url}: {got}");
        }
        let Err(ConfigError::InvalidUrl { url, .. }) = endpoint("ftp://ann:s3cret@x/") else {
            panic!("accepted");
        };
        assert!(!url.contains("s3cret"), "{url}");
        assert!(endpoint("http://[::1]:3000/rpc?v=2").is_ok());
    }

    #[test]
    fn an_error_status_body_is_an_answer_when_it_names_jsonrpc() {
        assert!(is_jsonrpc(
            br#" {"jsonrpc":"2.0","error":{"code":-32000,"message":"x"},"id":1}"#
        ));
        assert!(is_jsonrpc(br#"[{"jsonrpc":"2.0","result":1,"id":1}]"#));
        assert!(!is_jsonrpc(b"Bad Gateway"));
        assert!(!is_jsonrpc(br#"{"error":"overloaded"}"#));
        assert!(!is_jsonrpc(b"<html>\"jsonrpc\"</html>"));
        assert!(!is_jsonrpc(b""));
    }

    #[test]
    fn settings_of_a_client_handed_in_are_refused() {
        let http = HttpClient::from_client(reqwest::Client::new(), "http://127.0.0.1:1/").unwrap();
        let err = http
            .clone()
            .with_proxy("http://proxy.local:3128")
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Setting {
                    setting: "proxy",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("from_client"), "{err}");
        assert!(http.with_header("x-tenant", "a").is_ok());
    }

    #[test]
    fn proxy_urls_are_checked_and_their_credentials_never_shown() {
        let http = HttpClient::new("http://127.0.0.1:1/").unwrap();
        let with = http
            .clone()
            .with_proxy("http://ann:s3cret@proxy.local:3128")
            .unwrap();
        let shown = format!("{with:?}");
        assert!(shown.contains("proxy.local:3128"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        for url in [
            "socks5://ann:s3cret@proxy.local:1080",
            "http://proxy.local:31280x",
            "proxy.local",
        ] {
            let err = http.clone().with_proxy(url).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }
}
