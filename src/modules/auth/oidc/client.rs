//! The HTTP(S) client that talks to the provider: discovery, keys, token
//! exchange.
//!
//! hyper-util's pooled client over our own connector: TCP with a connect
//! timeout, then TLS with the `tls` feature's rustls (ring), so the binary
//! has one TLS stack. Trust anchors are the system's (rustls-native-certs:
//! the files a device's `ca-certificates` package maintains, updated with
//! the OS rather than frozen into the binary like webpki-roots) plus an
//! optional `cafile`. Every exchange has an overall time limit and a cap
//! on the response size: a slow or hostile provider cannot hold a login
//! (or memory) forever.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Time to open a connection (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole exchange, response body included.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response body accepted from the provider.
const MAX_RESPONSE: usize = 1024 * 1024;

/// Why an exchange with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be requested.
    #[error("bad URL `{0}`")]
    Url(String),
    /// Connecting, TLS or HTTP failed.
    #[error("{url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No answer in time.
    #[error("{0}: timed out")]
    Timeout(String),
    /// The body is not JSON (or is too large).
    #[error("{url}: bad response body: {why}")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
}

/// A pooled HTTP(S) client for one provider.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
}

impl HttpClient {
    /// A client trusting the system's roots and the certificates of
    /// `cafile`.
    pub fn new(cafile: Option<&Path>) -> Result<HttpClient, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if let Some(path) = cafile {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| format!("cafile {}: {e:?}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("cafile {}: no certificate", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("cafile {}: {e}", path.display()))?;
            }
        } else if added == 0 {
            log::warn!("auth: no system CA certificates; https providers need `cafile`");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = Connector {
            tls: TlsConnector::from(Arc::new(tls)),
        };
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(HttpClient { inner })
    }

    /// GET `url` and parse its JSON body (any status but 200 is an error).
    pub async fn get_json(&self, url: &str) -> Result<Value, ClientError> {
        self.get_json_as(url, None).await
    }

    /// As [`HttpClient::get_json`], with `Authorization: Bearer <token>`
    /// when `bearer` is given (the userinfo end point).
    pub async fn get_json_as(&self, url: &str, bearer: Option<&str>) -> Result<Value, ClientError> {
        let mut req = Request::get(parse(url)?).header(ACCEPT, "application/json");
        if let Some(t) = bearer {
            let v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|e| ClientError::Url(e.to_string()))?;
            req = req.header(AUTHORIZATION, v);
        }
        let req = req
            .body(Full::default())
            .map_err(|e| ClientError::Url(format!("{url}: {e}")))?;
        let (status, body) = self.exchange(url, req).await?;
        if status != StatusCode::OK {
            return Err(ClientError::Body {
                url: url.into(),
                why: format!("status {status}"),
            });
        }
        Ok(body)
    }

    /// POST a form to `url`, with HTTP Basic credentials when `basic` is
    /// given; the status and the JSON body.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<(StatusCode, Value), ClientError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(parse(url)?)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: each part form-encoded before joining.
            let creds = format!("{}:{}", form_encode(id), form_encode(secret));
            let v = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(creds)))
                .map_err(|e| ClientError::Url(e.to_string()))?;
            req = req.header(AUTHORIZATION, v);
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Url(format!("{url}: {e}")))?;
        self.exchange(url, req).await
    }

    async fn exchange(
        &self,
        url: &str,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Value), ClientError> {
        let transport = |e: Box<dyn std::error::Error + Send + Sync>| ClientError::Transport {
            url: url.into(),
            source: e,
        };
        let run = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| transport(causes(&e).into()))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| ClientError::Body {
                    url: url.into(),
                    why: e.to_string(),
                })?
                .to_bytes();
            let json = serde_json::from_slice(&bytes).map_err(|e| ClientError::Body {
                url: url.into(),
                why: format!("not JSON ({e})"),
            })?;
            Ok((status, json))
        };
        tokio::time::timeout(EXCHANGE_TIMEOUT, run)
            .await
            .map_err(|_| ClientError::Timeout(url.into()))?
    }
}

/// An error and its causes on one line (hyper-util's own message is only
/// "client error (Connect)").
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        out.push_str(": ");
        out.push_str(&c.to_string());
        next = c.source();
    }
    out
}

fn parse(url: &str) -> Result<Uri, ClientError> {
    let uri: Uri = url.parse().map_err(|_| ClientError::Url(url.into()))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(ClientError::Url(url.into())),
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
pub fn form_encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Opens TCP, then TLS for `https` URIs.
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
}

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> ConnectFuture {
        let tls = self.tls.clone();
        Box::pin(async move {
            let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad URI {uri}"));
            let https = match uri.scheme_str() {
                Some("https") => true,
                Some("http") => false,
                _ => return Err(bad()),
            };
            let host = uri.host().ok_or_else(bad)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let open = async {
                let tcp = TcpStream::connect((host, port)).await?;
                tcp.set_nodelay(true)?;
                if !https {
                    return Ok(Stream::Plain(TokioIo::new(tcp)));
                }
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let s = tls.connect(name, tcp).await?;
                Ok(Stream::Tls(Box::new(TokioIo::new(s))))
            };
            tokio::time::timeout(CONNECT_TIMEOUT, open)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
        })
    }
}

/// A connection to the provider.
enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
