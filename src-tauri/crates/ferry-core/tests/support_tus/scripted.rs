//! An HTTP/1.1 server whose answers the test scripts, to play a misbehaving tus server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::HARNESS_TIMEOUT;

/// A request as the script sees it, body read in full.
#[derive(Debug, Clone)]
pub struct ScriptedRequest {
    /// Position among all requests this server received, from 0.
    pub index: usize,
    pub method: String,
    /// Path and query, as sent (`/files/abc`).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ScriptedRequest {
    /// A header's value as text, when present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the method is `method` (case-sensitive, as HTTP methods are).
    pub fn is(&self, method: &str) -> bool {
        self.method == method
    }
}

/// The answer a script gives.
#[derive(Debug, Clone)]
pub struct ScriptedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long before answering (a slow server, or a client timeout test).
    pub delay: Option<Duration>,
    /// Close the connection without any response.
    pub hang_up: bool,
}

impl ScriptedResponse {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: None,
            hang_up: false,
        }
    }

    /// No response at all: the server closes the connection after reading the request.
    pub fn hang_up() -> Self {
        Self {
            hang_up: true,
            ..Self::new(0)
        }
    }

    /// Adds a header (keeps any other value of the same name).
    // By value so numbers and strings read alike at call sites: `.header("Upload-Offset", 5)`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    /// Sets a header, replacing every value of that name (case-insensitive).
    #[allow(clippy::needless_pass_by_value)] // as for `header`
    pub fn set_header(self, name: &str, value: impl ToString) -> Self {
        self.without_header(name).header(name, value)
    }

    /// Removes a header (case-insensitive), for example `Location` from a creation answer.
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// The first value of a header (case-insensitive).
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces the status, keeping headers and body (a 200 where a 204 is due).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// What the server received, in order.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub index: usize,
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body_len: usize,
    /// The status answered; `None` for a hang-up.
    pub status: Option<u16>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Handler = dyn Fn(&ScriptedRequest) -> ScriptedResponse + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    record: Mutex<Vec<RecordedRequest>>,
    next_index: AtomicUsize,
    /// Requests answered so far, to await a count instead of sleeping.
    count: watch::Sender<usize>,
    shutdown: CancellationToken,
}

/// An HTTP/1.1 server on 127.0.0.1 (keep-alive, `Expect: 100-continue` handled) answering
/// every request with the script's response; stops on drop.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl ScriptedServer {
    /// Starts a server answering each request with `handler`'s response. Requests are
    /// handled one at a time per connection, in the order they arrive.
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(&ScriptedRequest) -> ScriptedResponse + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the scripted server on 127.0.0.1");
        let addr = listener.local_addr().expect("scripted server address");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            record: Mutex::new(Vec::new()),
            next_index: AtomicUsize::new(0),
            count: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Self {
            addr,
            shared,
            accept_task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The tus creation URL by convention: `http://127.0.0.1:PORT/files/`.
    pub fn endpoint(&self) -> String {
        self.url("/files/")
    }

    /// Every request answered (or hung up on) so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let mut requests = self.shared.record.lock().expect("request record").clone();
        // Concurrent connections may finish out of order; the index is arrival order.
        requests.sort_by_key(|r| r.index);
        requests
    }

    /// The requests with this method, in order.
    pub fn requests_with(&self, method: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    pub fn request_count(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// Waits until at least `n` requests were answered; panics after the harness timeout.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.count.subscribe();
        tokio::time::timeout(HARNESS_TIMEOUT, rx.wait_for(|&c| c >= n))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the scripted server got {} of {n} requests within {HARNESS_TIMEOUT:?}: {:?}",
                    self.request_count(),
                    self.requests()
                        .iter()
                        .map(|r| format!("{} {} -> {:?}", r.method, r.path, r.status))
                        .collect::<Vec<_>>()
                )
            })
            .expect("the counter lives as long as the server");
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(|req| answer(req, Arc::clone(&shared)));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = shared.shutdown.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}

/// The error returned for a hang-up: hyper then closes the connection without answering.
#[derive(Debug)]
struct HangUp;

impl std::fmt::Display for HangUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted hang-up")
    }
}

impl std::error::Error for HangUp {}

async fn answer(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = req.into_parts();
    // A client that drops mid-body ends here: nothing is recorded for a request never read.
    let body = body.collect().await?.to_bytes();
    let method = parts.method.as_str().to_owned();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let index = shared.next_index.fetch_add(1, Ordering::SeqCst);
    let request = ScriptedRequest {
        index,
        method,
        path,
        headers: parts.headers,
        body,
    };
    let response = (shared.handler)(&request);
    {
        let mut record = shared.record.lock().expect("request record");
        record.push(RecordedRequest {
            index,
            method: request.method.clone(),
            path: request.path.clone(),
            headers: request.headers.clone(),
            body_len: request.body.len(),
            status: (!response.hang_up).then_some(response.status),
        });
    }
    shared.count.send_modify(|c| *c += 1);
    if let Some(delay) = response.delay {
        tokio::time::sleep(delay).await;
    }
    if response.hang_up {
        return Err(Box::new(HangUp));
    }
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(Full::new(response.body))?)
}
