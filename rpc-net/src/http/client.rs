//! The HTTP client transport (reqwest): one POST per message, pooled
//! keep-alive connections.

use ::http::{HeaderMap, HeaderValue};

use super::StatusError;
use bytes::Bytes;
use rpc_core::{Answer, BoxFuture, Error, Outgoing, Transport};

use crate::tls::ExtraRoots;
use crate::CONNECT_TIMEOUT;

/// Sends JSON-RPC messages as HTTP POST requests.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let http = rpc_net::http::HttpClient::new("http://127.0.0.1:3000/")?
///     .with_header("authorization", "Bearer s3cret")?;
/// let client = rpc_core::Client::new(http);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HttpClient {
    http: reqwest::Client,
    url: reqwest::Url,
    settings: Settings,
    max_response_bytes: usize,
}

/// What the pooled reqwest client is built from.
#[derive(Clone, Default)]
struct Settings {
    /// The caller brought its own reqwest client: it holds every setting.
    own_client: bool,
    headers: HeaderMap,
    roots: ExtraRoots,
    proxy: Option<reqwest::Url>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out: header values set as sensitive print as
        // such, a proxy's user info is masked.
        f.debug_struct("Settings")
            .field("own_client", &self.own_client)
            .field("headers", &self.headers)
            .field(
                "proxy",
                &self.proxy.as_ref().map(|u| crate::redacted(u.as_str())),
            )
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for the endpoint at `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Self, Error> {
        let url = endpoint(url)?;
        let settings = Settings::default();
        Ok(HttpClient {
            http: build(&settings)?,
            url,
            settings,
            max_response_bytes: rpc_core::DEFAULT_MAX_MESSAGE,
        })
    }

    /// A client that sends through `http`, a `reqwest::Client` configured
    /// as the caller likes (its own TLS, proxy, timeouts, headers; the
    /// `with_*` settings of this type then refuse with [`Error::Config`]).
    /// reqwest 0.12 is the version this crate uses.
    pub fn from_reqwest(http: reqwest::Client, url: &str) -> Result<Self, Error> {
        Ok(HttpClient {
            http,
            url: endpoint(url)?,
            settings: Settings {
                own_client: true,
                ..Settings::default()
            },
            max_response_bytes: rpc_core::DEFAULT_MAX_MESSAGE,
        })
    }

    /// Adds a header sent with every request (e.g. `Authorization`).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let (name, value) = crate::header(name, value)?;
        self.settings.headers.insert(name, value);
        // The headers live in the reqwest client, so no call copies them.
        self.http = build(&self.settings)?;
        Ok(self)
    }

    /// Trusts the certificate authorities of a PEM document (for `https://`
    /// servers with a private CA or a self-signed certificate), beside the
    /// Mozilla roots.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.settings.roots.add_pem(pem)?;
        self.http = build(&self.settings)?;
        Ok(self)
    }

    /// Sends every request through the HTTP proxy at `url` (none by
    /// default: the environment's proxy variables are ignored).
    pub fn with_proxy(mut self, url: &str) -> Result<Self, Error> {
        let proxy = reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl {
            url: crate::redacted(url),
            reason: e.to_string(),
        })?;
        self.settings.proxy = Some(proxy);
        self.http = build(&self.settings)?;
        Ok(self)
    }

    /// Largest answer accepted (default 5 MiB, the servers' message limit);
    /// a larger one fails the call with [`Error::ResponseTooLarge`] without
    /// being read further.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    async fn post(&self, message: Outgoing) -> Result<(u16, Bytes), Error> {
        let mut request = self.http.post(self.url.clone()).header(
            ::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // Headers a client layer put on this message.
        if let Some(headers) = message.context.get::<HeaderMap>() {
            request = request.headers(headers.clone());
        }
        // The trace this call belongs to: one a layer set, else (with the
        // `otel` feature) the current span's.
        let parent = message
            .context
            .get::<rpc_core::trace::TraceParent>()
            .copied();
        #[cfg(feature = "otel")]
        let parent = parent.or_else(rpc_core::trace::current);
        // The caller's deadline, for the server to give up early.
        if let Some(deadline) = message.context.get::<rpc_core::Deadline>() {
            let left = deadline
                .0
                .saturating_duration_since(std::time::Instant::now());
            request = request.header(rpc_core::DEADLINE_HEADER, left.as_millis().to_string());
        }
        let layer_set_one = message
            .context
            .get::<HeaderMap>()
            .is_some_and(|h| h.contains_key("traceparent"));
        if let Some(parent) = parent.filter(|_| !layer_set_one) {
            request = request.header("traceparent", parent.to_header());
        }
        let mut response = request.body(message.body).send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        let limit = self.max_response_bytes;
        let too_large = Error::ResponseTooLarge { limit };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > limit as u64) {
            return Err(too_large);
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if body.is_empty() && announced == Some(chunk.len() as u64) {
                // The whole body (within the limit) in one piece: no copy.
                return Ok((status, chunk));
            }
            if body.len() + chunk.len() > limit {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body.freeze()))
    }
}

/// The endpoint's URL: `http://` or `https://`.
fn endpoint(url: &str) -> Result<reqwest::Url, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(invalid(format!(
            "unsupported scheme `{other}`; expected http or https"
        ))),
    }
}

/// A pooled reqwest client from `settings`.
fn build(settings: &Settings) -> Result<reqwest::Client, Error> {
    if settings.own_client {
        return Err(Error::Config {
            setting: "HttpClient::from_reqwest",
            source: "set headers, certificates and proxies on your own reqwest::Client".into(),
        });
    }
    let builder = reqwest::Client::builder()
        .default_headers(settings.headers.clone())
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        // A JSON-RPC endpoint is one URL: no redirects.
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .use_preconfigured_tls(rustls::ClientConfig::clone(&*crate::tls::client_config(
            &settings.roots,
        )?));
    let builder = match &settings.proxy {
        Some(url) => {
            builder.proxy(reqwest::Proxy::all(url.clone()).map_err(|e| Error::Config {
                setting: "proxy",
                source: Box::new(e),
            })?)
        }
        None => builder.no_proxy(),
    };
    builder.build().map_err(|e| Error::Config {
        setting: "HTTP client",
        source: Box::new(Described::new(e)),
    })
}

fn map_error(e: reqwest::Error) -> Error {
    if e.is_timeout() && e.is_connect() {
        // The connect timeout is the only one our reqwest client enforces;
        // call timeouts are the engine's.
        Error::Timeout(CONNECT_TIMEOUT)
    } else if e.is_connect() {
        Error::Connect(Box::new(Described::new(e)))
    } else {
        Error::Transport(Box::new(Described::new(e)))
    }
}

/// A reqwest error whose message names its causes too (reqwest's own is
/// vague: "error sending request"); the error itself stays the source.
#[derive(Debug)]
struct Described {
    message: String,
    error: reqwest::Error,
}

impl Described {
    fn new(error: reqwest::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Described { message, error }
    }
}

impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Described {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Whether an error-status body still carries a JSON-RPC answer (some
/// servers send errors with 4xx/5xx); then the engine reports that error.
fn is_jsonrpc(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("jsonrpc").is_some()
            || v.as_array()
                .is_some_and(|a| a.iter().any(|m| m.get("jsonrpc").is_some()))
    })
}

fn status_error(status: u16, body: &[u8]) -> Error {
    Error::Transport(Box::new(StatusError::new(status, body)))
}

impl Transport for HttpClient {
    fn request(&self, message: Outgoing) -> BoxFuture<'_, Result<Answer, Error>> {
        Box::pin(async move {
            let (status, body) = self.post(message).await?;
            match status {
                200..=299 if !body.is_empty() => Ok(body.into()),
                200..=299 => Err(rpc_core::InvalidResponse::Empty.into()),
                _ if is_jsonrpc(&body) => Ok(body.into()),
                _ => Err(status_error(status, &body)),
            }
        })
    }

    fn notify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
        self.notify_with(Outgoing::notification(body))
    }

    fn notify_with(&self, message: Outgoing) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let (status, body) = self.post(message).await?;
            match status {
                200..=299 => Ok(()),
                _ => Err(status_error(status, &body)),
            }
        })
    }
}
