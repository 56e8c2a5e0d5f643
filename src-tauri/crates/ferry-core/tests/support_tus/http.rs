//! A raw HTTP/1.1 client on hyper: exact requests, no retries, no redirects, so a test sees
//! precisely what a server answers. Loopback addresses only.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::BoxError;

/// A response read in full.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    /// A header's value as text, when present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy), for assertions on error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection: requests on it reuse the same TCP stream, which is
/// what a test of connection cuts needs.
pub struct HttpConnection {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    driver: JoinHandle<()>,
}

impl HttpConnection {
    /// Connects to `addr`, which must be a loopback address (tests never leave the machine).
    pub async fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        assert!(
            addr.ip().is_loopback(),
            "tests only talk to loopback, not {addr}"
        );
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection future drives the socket; it ends when the peer or the test closes it.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            addr,
            driver,
        })
    }

    /// Sends one request. `target` is a path (`/files/abc`) or a full `http://` URL whose
    /// path is used; headers are sent as given (plus `Host`).
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<HttpResponse, BoxError> {
        let path = match target.strip_prefix("http://") {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => target,
        };
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body.into()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// Whether the connection is known to be closed (the peer hung up or it failed).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl Drop for HttpConnection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Sends one request on a fresh connection to the `http://127.0.0.1:PORT/...` URL `url`.
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<HttpResponse, BoxError> {
    let mut connection = HttpConnection::connect(addr_of(url)?).await?;
    connection.request(method, url, headers, body).await
}

/// The socket address of an `http://IP:PORT/...` URL.
pub(crate) fn addr_of(url: &str) -> Result<SocketAddr, BoxError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .map_err(|e| format!("{url}: the host must be IP:PORT ({e})").into())
}
