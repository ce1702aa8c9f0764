//! The HTTP client transport: one POST per message over pooled keep-alive
//! HTTP/1.1 connections ([`pool`](super::pool)).

use std::sync::Arc;

use ::http::header::{self, HeaderMap, HeaderValue};
use ::http::{Method, Request, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use rpc_core::{Answer, BoxFuture, Error, Outgoing, Transport};

use super::pool::{Pool, Route, DEFAULT_IDLE_TIMEOUT};
use super::StatusError;
use crate::proxy::Proxy;
use crate::tls::ExtraRoots;

/// Sends JSON-RPC messages as HTTP POST requests, over keep-alive
/// connections it keeps open between calls (as many as there are calls at
/// once; idle ones close after 4 s, see
/// [`with_idle_timeout`](Self::with_idle_timeout)).
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
/// credentials. Clones share their connections.
#[derive(Clone, Debug)]
pub struct HttpClient {
    pool: Arc<Pool>,
    /// The request target: the path (or, through a proxy to an `http://`
    /// endpoint, the whole URL).
    uri: Uri,
    /// Sent with every request: `Host`, `Content-Type`, the credentials
    /// and the headers the user set.
    headers: HeaderMap,
    settings: Settings,
    max_response_bytes: usize,
}

/// What the connections and headers are made from.
#[derive(Clone)]
struct Settings {
    /// The endpoint as given, without user info.
    url: Uri,
    headers: HeaderMap,
    roots: ExtraRoots,
    tls: Option<Arc<rustls::ClientConfig>>,
    proxy: Option<Proxy>,
    idle_timeout: std::time::Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out: header values set as sensitive print as
        // such, a proxy's credentials are masked.
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("own_tls", &self.tls.is_some())
            .field("proxy", &self.proxy)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for the endpoint at `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: crate::redacted(url),
            reason,
        };
        let parsed: Uri = url
            .parse()
            .map_err(|e: ::http::uri::InvalidUri| invalid(e.to_string()))?;
        match parsed.scheme_str() {
            Some("http" | "https") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "unsupported scheme `{other}`; expected http or https"
                )))
            }
            None => return Err(invalid("no scheme; expected http:// or https://".into())),
        }
        let Some(authority) = parsed.authority() else {
            return Err(invalid("no host".into()));
        };
        if parsed.host().is_none_or(str::is_empty) {
            return Err(invalid("no host".into()));
        }
        if let Some(port) = crate::proxy::bad_port(authority.as_str()) {
            return Err(invalid(format!("`{port}` is not a port number")));
        }
        let mut headers = HeaderMap::new();
        // User info becomes Basic credentials; the URL kept is without it.
        let url = match authority.as_str().rsplit_once('@') {
            None => parsed.clone(),
            Some((user, host)) => {
                if let Some(credentials) = crate::proxy::basic(user) {
                    let (name, value) = crate::header("authorization", &credentials)?;
                    headers.insert(name, value);
                }
                let mut parts = parsed.clone().into_parts();
                parts.authority = Some(
                    host.parse()
                        .map_err(|e: ::http::uri::InvalidUri| invalid(e.to_string()))?,
                );
                Uri::from_parts(parts).map_err(|e| invalid(e.to_string()))?
            }
        };
        let settings = Settings {
            url,
            headers,
            roots: ExtraRoots::default(),
            tls: None,
            proxy: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        };
        HttpClient::build(settings, rpc_core::DEFAULT_MAX_MESSAGE)
    }

    /// Connections, request target and headers from `settings`.
    fn build(settings: Settings, max_response_bytes: usize) -> Result<Self, Error> {
        let url = &settings.url;
        let https = url.scheme_str() == Some("https");
        let host = url.host().unwrap_or_default();
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let mut config = match &settings.tls {
                Some(config) => rustls::ClientConfig::clone(config),
                None => rustls::ClientConfig::clone(&*crate::tls::client_config(&settings.roots)?),
            };
            // This client speaks HTTP/1.1 only: never let a server pick h2.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        let mut headers = HeaderMap::with_capacity(4 + settings.headers.len());
        headers.insert(
            header::HOST,
            HeaderValue::from_str(url.authority().map_or(host, |a| a.as_str())).map_err(|e| {
                Error::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                }
            })?,
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.extend(settings.headers.clone());
        // Through a proxy, a plain-HTTP request names the whole URL and
        // carries the proxy's credentials; `https://` goes through a tunnel.
        let through_proxy = settings.proxy.as_ref().filter(|_| !https);
        let uri = match through_proxy {
            Some(proxy) => {
                if let Some(authorization) = proxy.authorization() {
                    let (name, value) = crate::header("proxy-authorization", authorization)?;
                    headers.insert(name, value);
                }
                url.clone()
            }
            None => url
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone())),
        };
        let route = Route {
            target: format!("{host}:{port}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            tls,
            proxy: settings.proxy.clone(),
        };
        Ok(HttpClient {
            pool: Pool::new(route, settings.idle_timeout),
            uri,
            headers,
            settings,
            max_response_bytes,
        })
    }

    fn rebuild(self) -> Result<Self, Error> {
        HttpClient::build(self.settings, self.max_response_bytes)
    }

    /// Adds a header sent with every request (e.g. `Authorization`).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let (name, value) = crate::header(name, value)?;
        self.settings.headers.insert(name, value);
        self.rebuild()
    }

    /// Trusts the certificate authorities of a PEM document (for `https://`
    /// servers with a private CA or a self-signed certificate), beside the
    /// Mozilla roots.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.settings.roots.add_pem(pem)?;
        self.rebuild()
    }

    /// Uses `config` for `https://` (client certificates, other roots, a
    /// crypto provider of your choice) instead of rustls with the Mozilla
    /// roots and any [`with_root_certificates`](Self::with_root_certificates).
    pub fn with_tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Result<Self, Error> {
        self.settings.tls = Some(config);
        self.rebuild()
    }

    /// Sends every request through the HTTP proxy at `url`
    /// (`http://[user:password@]host[:port]`; none by default: the
    /// environment's proxy variables are ignored). `https://` endpoints are
    /// reached through a `CONNECT` tunnel, `http://` ones by asking the
    /// proxy for the whole URL.
    pub fn with_proxy(mut self, url: &str) -> Result<Self, Error> {
        self.settings.proxy = Some(Proxy::parse(url)?);
        self.rebuild()
    }

    /// How long a connection may stay unused before it is closed (default
    /// 4 s: below the keep-alive timeouts of common servers, node's 5 s and
    /// this crate's own, so that a call is rarely sent on a connection the
    /// server is closing at that moment).
    pub fn with_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.settings.idle_timeout = idle;
        self.pool = self.pool.with_idle_timeout(idle);
        self
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
    fn request(&self, message: Outgoing) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::from(message.body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        *headers = self.headers.clone();
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
        // The caller's deadline, for the server to give up early.
        if let Some(deadline) = context.get::<rpc_core::Deadline>() {
            let left = deadline
                .0
                .saturating_duration_since(std::time::Instant::now());
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
        request
    }

    async fn post(&self, message: Outgoing) -> Result<(u16, Bytes), Error> {
        let (response, connection) = self.pool.send(self.request(message)).await?;
        let status = response.status().as_u16();
        let limit = self.max_response_bytes;
        let too_large = Error::ResponseTooLarge { limit };
        let announced = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > limit as u64) {
            return Err(too_large);
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large
                } else {
                    match e.downcast::<hyper::Error>() {
                        Ok(e) => super::pool::request_error(*e),
                        Err(e) => Error::Transport(e),
                    }
                }
            })?
            .to_bytes();
        // Read to its end: the connection can carry the next call.
        self.pool.put_back(connection);
        Ok((status, body))
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
