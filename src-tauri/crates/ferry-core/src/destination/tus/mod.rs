//! A tus 1.0 server as a destination: resumable uploads that survive network faults,
//! pauses and restarts (tusd, the official Node server, rustus, Supabase Storage,
//! Cloudflare Stream, Vimeo).
//!
//! One upload goes: discovery (OPTIONS, cached) -> find the upload again through the
//! [`ResumeLedger`] (HEAD for the server's offset) or create it (POST, with the first
//! bytes when the file is small) -> PATCH chunk after chunk, each acknowledged offset
//! saved before the next chunk goes -> verification (HEAD: the server's offset and
//! length equal the file's). Failures are sorted by [`http::classify`] and handled in
//! one loop: retry with backoff, ask the server where it stands, shrink the chunk,
//! resend it, start a new upload, or fail with the server's words.

mod check;
mod checksum;
mod http;
mod retry;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Body, Client, ClientBuilder, Method, StatusCode};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use url::Url;

pub use check::{ConnectionProblem, ConnectionReport};
pub use checksum::ChecksumAlgorithm;
pub use retry::RetryPolicy;

use self::http::{
    base_headers, classify, describe_request, header, list_header, number_header, status_words,
    transport_failure, with_causes, Failure, OFFSET_OCTET_STREAM,
};
use self::retry::Attempts;
use super::{
    Destination, DestinationPolicy, ExpectedContent, PendingHash, ProgressSink, UploadBody,
    UploadRequest,
};
use crate::error::{human_bytes, CoreError};
use crate::resume::{ResumeKey, ResumeLedger, ResumePoint};
use crate::secrets::{Auth, SecretStore};
use crate::throttle::Throttle;

/// The default chunk size: large enough for throughput, small enough that a lost
/// connection costs little.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// The smallest chunk a 413 answer can shrink the chunk size to.
pub const MIN_CHUNK_SIZE: u64 = 64 * 1024;

/// How many times one chunk is resent after the server found its checksum wrong.
const CHECKSUM_RESENDS: u32 = 3;

/// How many times one job starts a fresh upload because the server lost the previous.
const MAX_RESTARTS: u32 = 3;

/// Files up to this size are hashed before their upload starts (about 20 ms on one
/// core), so their creation metadata carries the hash; larger ones that cannot continue
/// an earlier upload are hashed alongside theirs.
const HASH_FIRST_UP_TO: u64 = 64 * 1024 * 1024;

/// Everything that describes one tus destination.
#[derive(Debug, Clone)]
pub struct TusConfig {
    /// The creation endpoint (`https://host/files/`).
    pub endpoint: Url,
    /// A display name for messages; the endpoint's host when empty.
    pub name: String,
    /// An upload URL made by someone else (the Vimeo flow): every file goes there, no
    /// creation request is sent.
    pub upload_url: Option<Url>,
    /// Bytes per PATCH request (at least [`MIN_CHUNK_SIZE`]).
    pub chunk_size: u64,
    /// Credentials, read from `secrets` when a request needs them.
    pub auth: Auth,
    /// Headers sent with every request (name, value), for servers that want more.
    pub headers: Vec<(String, String)>,
    /// How long no byte may move (sent or acknowledged) before the request is
    /// abandoned and retried.
    pub stall_timeout: Duration,
    /// Deadline of the requests without a body (OPTIONS, HEAD, DELETE, POST).
    pub request_timeout: Duration,
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// Upload rate cap of this destination in bytes/s, shared by its uploads.
    pub bandwidth_limit: Option<u64>,
    /// A PEM file with a CA certificate (or several) to trust in addition to the
    /// platform's roots, for servers with their own certificate authority.
    pub ca_certificate: Option<PathBuf>,
}

impl TusConfig {
    /// A configuration with the defaults: 8 MiB chunks, a 30 s stall timeout, no
    /// credentials.
    pub fn new(endpoint: Url) -> Self {
        Self {
            name: endpoint.host_str().unwrap_or("tus server").to_owned(),
            endpoint,
            upload_url: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            auth: Auth::None,
            headers: Vec::new(),
            stall_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            bandwidth_limit: None,
            ca_certificate: None,
        }
    }
}

/// What the server said about itself in its OPTIONS answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `Tus-Version`, most preferred first.
    pub versions: Vec<String>,
    /// `Tus-Extension` (creation, creation-with-upload, termination, checksum, ...).
    pub extensions: Vec<String>,
    /// `Tus-Max-Size` in bytes.
    pub max_size: Option<u64>,
    /// `Tus-Checksum-Algorithm`.
    pub checksum_algorithms: Vec<String>,
}

impl Capabilities {
    fn has(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e == extension)
    }
}

/// A tus 1.0 destination. See the module documentation for the flow.
#[derive(Debug)]
pub struct TusDestination {
    config: TusConfig,
    display: String,
    client: Client,
    ledger: Arc<dyn ResumeLedger>,
    secrets: Arc<dyn SecretStore>,
    throttle: Option<Arc<Throttle>>,
    capabilities: Mutex<Option<Capabilities>>,
    /// Resume keys of the uploads running now: two jobs with the same content never
    /// write to the same upload.
    active: Mutex<HashSet<ResumeKey>>,
}

/// Where one upload stands while it runs.
struct Target {
    url: Url,
    offset: u64,
    expires: Option<String>,
}

impl TusDestination {
    /// Builds the destination. Fails when the CA certificate cannot be read or the
    /// HTTP client cannot be set up.
    pub fn new(
        config: TusConfig,
        ledger: Arc<dyn ResumeLedger>,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Self, CoreError> {
        let mut builder = Client::builder()
            .user_agent(concat!("Ferry/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .tcp_nodelay(true)
            // Data is sent in large bodies; more idle connections only hold sockets.
            .pool_max_idle_per_host(4)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Never follow an HTTPS request to plain HTTP: the data and the
                // credentials would then travel in the clear.
                let downgrade = attempt.url().scheme() == "http"
                    && attempt.previous().iter().any(|u| u.scheme() == "https");
                if downgrade {
                    attempt.error("the server redirected from HTTPS to plain HTTP; Ferry does not follow that")
                } else if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }));
        if let Some(path) = &config.ca_certificate {
            let pem = std::fs::read(path).map_err(|source| CoreError::Destination {
                context: format!("cannot read the CA certificate {}", path.display()),
                source,
            })?;
            builder = ca_certificates(&pem, path)?
                .into_iter()
                .fold(builder, ClientBuilder::add_root_certificate);
        }
        let client = builder.build().map_err(|e| {
            let with = config
                .ca_certificate
                .as_ref()
                .map(|path| format!(" with the CA certificate {}", path.display()))
                .unwrap_or_default();
            CoreError::Remote(format!(
                "cannot set up HTTPS for {}{with}: {}",
                config.endpoint,
                with_causes(e.to_string(), &e)
            ))
        })?;
        let display = format!("the tus server {}", config.name);
        let throttle = config
            .bandwidth_limit
            .filter(|rate| *rate > 0)
            .map(|rate| Arc::new(Throttle::new(rate)));
        Ok(Self {
            config,
            display,
            client,
            ledger,
            secrets,
            throttle,
            capabilities: Mutex::new(None),
            active: Mutex::new(HashSet::new()),
        })
    }

    /// Deadline of a request without a body: a server that takes longer than the stall
    /// timeout to answer one has stalled as surely as one that stops reading.
    fn short_timeout(&self) -> Duration {
        self.config
            .request_timeout
            .min(self.config.stall_timeout)
            .max(Duration::from_millis(100))
    }

    /// The configuration this destination runs with.
    pub fn config(&self) -> &TusConfig {
        &self.config
    }

    /// This destination's identity in the resume ledger: the pre-made upload URL, or
    /// the endpoint.
    fn ledger_identity(&self) -> String {
        self.config
            .upload_url
            .as_ref()
            .unwrap_or(&self.config.endpoint)
            .to_string()
    }

    fn resume_key(&self, blake3: &str, size: u64) -> ResumeKey {
        ResumeKey {
            destination: self.ledger_identity(),
            blake3: blake3.to_owned(),
            size,
        }
    }

    /// Headers of every request, credentials included.
    async fn headers(&self) -> Result<HeaderMap, CoreError> {
        let mut extra = self.config.headers.clone();
        if let Some((name, value)) = self.config.auth.header(self.secrets.as_ref()).await? {
            extra.push((name, value.expose().to_owned()));
        }
        base_headers(&extra)
    }

    /// Runs `attempt` until it succeeds, retrying as the policy says. `Conflict` and
    /// `Gone` are returned to the caller, which alone knows what they mean.
    async fn with_retries<T, F, Fut>(
        &self,
        what: &str,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
        mut attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut attempts = Attempts::default();
        loop {
            match attempt().await {
                Err(Failure::Retry { reason, after }) => {
                    self.back_off(&mut attempts, what, &reason, after, progress, cancel)
                        .await?;
                }
                other => {
                    if attempts.any() {
                        progress.note(None);
                    }
                    return other;
                }
            }
        }
    }

    /// Waits before the next attempt, or fails when the policy gives up.
    async fn back_off(
        &self,
        attempts: &mut Attempts,
        what: &str,
        reason: &str,
        after: Option<Duration>,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), Failure> {
        let Some(n) = attempts.fail(&self.config.retry) else {
            return Err(Failure::Fatal(CoreError::Remote(format!(
                "{reason}; gave up after {} attempts in a row. Check the connection to {} and retry",
                self.config.retry.max_attempts + 1,
                self.config.name
            ))));
        };
        let delay = self
            .config
            .retry
            .delay(n, rand::random::<f64>())
            .max(after.unwrap_or_default());
        tracing::warn!(
            what,
            reason,
            attempt = n,
            delay_ms = delay.as_millis() as u64,
            "retrying"
        );
        let when = if delay.is_zero() {
            "now".to_owned()
        } else {
            format!("in {} s", delay.as_secs_f64().ceil())
        };
        progress.note(Some(format!("{reason}; retrying {when} (attempt {n})")));
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Failure::Interrupted),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// The server's capabilities, asked once (OPTIONS) and kept.
    async fn capabilities(
        &self,
        headers: &HeaderMap,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<Capabilities, Failure> {
        if let Some(caps) = self.cached_capabilities() {
            return Ok(caps);
        }
        let caps = self
            .with_retries(
                "asking the server what it supports",
                progress,
                cancel,
                || self.options(headers),
            )
            .await?;
        *self
            .capabilities
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(caps.clone());
        Ok(caps)
    }

    fn cached_capabilities(&self) -> Option<Capabilities> {
        self.capabilities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn options(&self, headers: &HeaderMap) -> Result<Capabilities, Failure> {
        let url = &self.config.endpoint;
        let what = describe_request(&Method::OPTIONS, url);
        let response = self
            .client
            .request(Method::OPTIONS, url.clone())
            .headers(headers.clone())
            .timeout(self.short_timeout())
            .send()
            .await
            .map_err(|e| transport_failure(&what, &e))?;
        let status = response.status();
        let versions = list_header(response.headers(), "tus-version");
        if !status.is_success() || versions.is_empty() {
            if self.config.upload_url.is_some() && versions.is_empty() {
                // A pre-made upload URL often has no discovery endpoint: core only.
                return Ok(Capabilities {
                    versions: vec![http::TUS_VERSION.into()],
                    ..Capabilities::default()
                });
            }
            if !status.is_success() {
                return Err(classify(&what, response, false, false).await);
            }
            return Err(Failure::Fatal(CoreError::Remote(format!(
                "{} is not a tus server: its OPTIONS answer ({}) has no Tus-Version header. Check the URL",
                self.config.endpoint,
                status_words(status)
            ))));
        }
        if !versions.iter().any(|v| v == http::TUS_VERSION) {
            return Err(Failure::Fatal(CoreError::Remote(format!(
                "{} speaks tus {}, but Ferry speaks tus {}",
                self.config.endpoint,
                versions.join(", "),
                http::TUS_VERSION
            ))));
        }
        let max_size = number_header(response.headers(), "tus-max-size")
            .map_err(|detail| Failure::Fatal(CoreError::Remote(format!("{what}: {detail}"))))?;
        Ok(Capabilities {
            versions,
            extensions: list_header(response.headers(), "tus-extension"),
            max_size,
            checksum_algorithms: list_header(response.headers(), "tus-checksum-algorithm"),
        })
    }

    /// HEAD: the server's offset and length of an upload.
    async fn head(&self, url: &Url, headers: &HeaderMap) -> Result<(u64, Option<u64>), Failure> {
        let what = describe_request(&Method::HEAD, url);
        let response = self
            .client
            .head(url.clone())
            .headers(headers.clone())
            .header("cache-control", "no-store")
            .timeout(self.short_timeout())
            .send()
            .await
            .map_err(|e| transport_failure(&what, &e))?;
        if !response.status().is_success() {
            return Err(classify(&what, response, false, true).await);
        }
        let bad = |detail: String| Failure::Retry {
            reason: format!("{what}: the server's answer makes no sense ({detail})"),
            after: None,
        };
        let offset = number_header(response.headers(), "upload-offset")
            .map_err(bad)?
            .ok_or_else(|| bad("no Upload-Offset header".into()))?;
        let length = number_header(response.headers(), "upload-length").map_err(bad)?;
        Ok((offset, length))
    }

    /// HEAD with retries, checked against the file: an offset beyond the file, or a
    /// length that is not the file's, means the upload is not this file's.
    async fn server_offset(
        &self,
        url: &Url,
        size: u64,
        headers: &HeaderMap,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<u64, Failure> {
        let (offset, length) = self
            .with_retries(
                "asking the server how much it has",
                progress,
                cancel,
                || self.head(url, headers),
            )
            .await?;
        if offset > size || length.is_some_and(|l| l != size) {
            tracing::warn!(%url, offset, ?length, size, "the upload at the server does not fit the file");
            return Err(Failure::Gone { status: 0 });
        }
        Ok(offset)
    }

    /// POST: a new upload, with the whole file in the same request when the file is
    /// small and the server allows it (creation-with-upload).
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        request: &UploadRequest,
        body: &mut UploadBody,
        caps: &Capabilities,
        headers: &HeaderMap,
        chunk_size: u64,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<Target, Failure> {
        if !caps.has("creation") {
            return Err(Failure::Fatal(CoreError::Remote(format!(
                "{} does not let clients create uploads (no creation extension); give Ferry an upload URL made by the service instead",
                self.config.endpoint
            ))));
        }
        let url = &self.config.endpoint;
        let what = describe_request(&Method::POST, url);
        // Data in the POST saves a round trip for small files only: nothing can resume
        // a POST cut short, so a larger file is created first and recorded before its
        // data goes.
        let mut with_data = caps.has("creation-with-upload")
            && request.size > 0
            && request.size <= chunk_size.min(DEFAULT_CHUNK_SIZE);
        loop {
            let post = self
                .client
                .post(url.clone())
                .headers(headers.clone())
                .header("upload-length", request.size)
                .header("upload-metadata", upload_metadata(request));
            let response = if with_data {
                self.post_with_data(post, request, body, caps, progress, cancel)
                    .await
            } else {
                post.header("content-length", 0)
                    .timeout(self.short_timeout())
                    .send()
                    .await
                    .map_err(|e| transport_failure(&what, &e))
            };
            let response = match response {
                Ok(response) => response,
                Err(failure) => return Err(failure),
            };
            let status = response.status();
            if !status.is_success() {
                match classify(&what, response, with_data, false).await {
                    Failure::TooLarge | Failure::ChecksumMismatch { .. } if with_data => {
                        // Create it empty and send the data with PATCH instead.
                        with_data = false;
                        continue;
                    }
                    Failure::TooLarge => {
                        return Err(Failure::Fatal(CoreError::Refused(format!(
                            "{} refuses a file of {} (413 Payload Too Large)",
                            self.display,
                            human_bytes(request.size)
                        ))))
                    }
                    other => return Err(other),
                }
            }
            let Some(location) = header(response.headers(), "location") else {
                return Err(Failure::Fatal(CoreError::Remote(format!(
                    "{what}: the server answered {} without a Location header, so the upload cannot be found; is {} a tus server?",
                    status_words(status),
                    self.config.endpoint
                ))));
            };
            let upload_url = url.join(location).map_err(|e| {
                Failure::Fatal(CoreError::Remote(format!(
                    "{what}: the server's Location `{location}` is not a URL ({e})"
                )))
            })?;
            refuse_downgrade(url, &upload_url).map_err(Failure::Fatal)?;
            let offset = if with_data {
                number_header(response.headers(), "upload-offset")
                    .ok()
                    .flatten()
                    .unwrap_or(0)
                    .min(request.size)
            } else {
                0
            };
            let expires = header(response.headers(), "upload-expires").map(str::to_owned);
            tracing::info!(url = %upload_url, offset, "created the upload");
            return Ok(Target {
                url: upload_url,
                offset,
                expires,
            });
        }
    }

    /// Sends the POST that creates an upload with the whole file in it.
    async fn post_with_data(
        &self,
        mut post: reqwest::RequestBuilder,
        request: &UploadRequest,
        body: &mut UploadBody,
        caps: &Capabilities,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<reqwest::Response, Failure> {
        post = post.header("content-type", OFFSET_OCTET_STREAM);
        if let Some(algorithm) = ChecksumAlgorithm::pick(&caps.checksum_algorithms) {
            post = post.header(
                "upload-checksum",
                checksum::header_for_range(algorithm, &request.source, 0, request.size, cancel)
                    .await?,
            );
        }
        body.seek(0)?;
        // Nothing can resume a POST cut short, and the server may have taken all of
        // it: a stop (a pause, a quit) lets this one request finish, so the upload it
        // made is recorded and continued instead of sent again. The stall watch still
        // bounds it.
        let unstoppable = CancellationToken::new();
        let job_cancel = body.replace_cancel(unstoppable.clone());
        let sent = self
            .send_streaming(post, body, request.size, 0, progress, &unstoppable)
            .await;
        body.replace_cancel(job_cancel);
        sent
    }

    /// Sends `len` bytes of `body` (from its current position, which is `offset`) as
    /// the body of `request`, watching for stalls and reporting bytes sent.
    async fn send_streaming(
        &self,
        request: reqwest::RequestBuilder,
        body: &mut UploadBody,
        len: u64,
        offset: u64,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<reqwest::Response, Failure> {
        // A few reads in flight at most (4 MiB): memory stays flat whatever the chunk
        // size, and the connection has data ready when the reader is scheduled late.
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
        });
        let send = request
            .header("content-length", len)
            .body(Body::wrap_stream(stream))
            .send();
        let (moved_tx, moved_rx) = watch::channel(0u64);
        let feed = async move {
            let mut fed = 0u64;
            while fed < len {
                let want = usize::try_from(len - fed).unwrap_or(usize::MAX);
                let Some(chunk) = body.next_bytes(want).await? else {
                    break;
                };
                let n = chunk.len() as u64;
                if tx.send(chunk).await.is_err() {
                    // The request ended early (an answer or an error); it tells why.
                    return Ok::<_, CoreError>(());
                }
                fed += n;
                progress.report_sent(offset + fed);
                let _ = moved_tx.send(fed);
            }
            Ok(())
        };
        let stall = stall_watch(moved_rx, self.config.stall_timeout);
        tokio::pin!(send, feed, stall);
        let mut fed = false;
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Failure::Interrupted),
                result = &mut feed, if !fed => {
                    fed = true;
                    result?;
                }
                response = &mut send => {
                    let what = "sending data";
                    return response.map_err(|e| transport_failure(what, &e));
                }
                () = &mut stall => {
                    return Err(Failure::Retry {
                        reason: format!(
                            "no data moved for {} s",
                            self.config.stall_timeout.as_secs()
                        ),
                        after: None,
                    });
                }
            }
        }
    }

    /// PATCH one chunk at `offset`; returns the server's new offset.
    #[allow(clippy::too_many_arguments)]
    async fn patch(
        &self,
        url: &Url,
        offset: u64,
        len: u64,
        body: &mut UploadBody,
        checksum: Option<ChecksumAlgorithm>,
        headers: &HeaderMap,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<u64, Failure> {
        let what = describe_request(&Method::PATCH, url);
        let mut request = self
            .client
            .patch(url.clone())
            .headers(headers.clone())
            .header("upload-offset", offset)
            .header("content-type", OFFSET_OCTET_STREAM);
        if let Some(algorithm) = checksum {
            request = request.header(
                "upload-checksum",
                checksum::header_for_range(algorithm, body.path(), offset, len, cancel).await?,
            );
        }
        body.seek(offset)?;
        let response = self
            .send_streaming(request, body, len, offset, progress, cancel)
            .await?;
        if !response.status().is_success() {
            return Err(classify(&what, response, true, true).await);
        }
        let new_offset = number_header(response.headers(), "upload-offset").map_err(|detail| {
            Failure::Retry {
                reason: format!("{what}: the server's answer makes no sense ({detail})"),
                after: None,
            }
        })?;
        match new_offset {
            Some(new) if new > offset && new <= offset + len => Ok(new),
            Some(new) => Err(Failure::Retry {
                reason: format!(
                    "{what}: the server acknowledged offset {new} after {len} bytes sent at {offset}"
                ),
                after: None,
            }),
            None => Err(Failure::Retry {
                reason: format!("{what}: the server's answer has no Upload-Offset header"),
                after: None,
            }),
        }
    }

    /// DELETE an upload (termination). A missing upload is not an error.
    async fn terminate(&self, url: &Url) -> Result<(), CoreError> {
        let supported = self
            .cached_capabilities()
            .is_none_or(|caps| caps.has("termination"));
        if !supported {
            return Ok(());
        }
        let headers = self.headers().await?;
        let what = describe_request(&Method::DELETE, url);
        let response = self
            .client
            .delete(url.clone())
            .headers(headers)
            .timeout(self.short_timeout())
            .send()
            .await
            .map_err(|e| {
                CoreError::Remote(format!("{what} failed: {}", http::describe_transport(&e)))
            })?;
        let status = response.status();
        if status.is_success() || matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            tracing::info!(%url, "ended the upload at the server");
            return Ok(());
        }
        match classify(&what, response, false, true).await {
            Failure::Fatal(err) => Err(err),
            _ => Err(CoreError::Remote(format!(
                "{what}: the server answered {}",
                status_words(status)
            ))),
        }
    }

    /// Sends the whole file to `target`, chunk by chunk, until the server has it all.
    #[allow(clippy::too_many_arguments)]
    async fn transfer(
        &self,
        target: &mut Target,
        request: &UploadRequest,
        body: &mut UploadBody,
        caps: &Capabilities,
        headers: &HeaderMap,
        resumption: &mut Resumption<'_>,
        chunk_size: &mut u64,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), Failure> {
        let checksum = if caps.has("checksum") {
            ChecksumAlgorithm::pick(&caps.checksum_algorithms)
        } else {
            None
        };
        let mut attempts = Attempts::default();
        let mut checksum_failures = 0;
        // The body stands where the server does, even when no PATCH follows: an upload
        // that the server already holds whole (a crash after its last acknowledgement)
        // is finished, not "stopped reading after 0 B".
        body.seek(target.offset)?;
        while target.offset < request.size {
            let len = (*chunk_size).min(request.size - target.offset);
            let result = {
                let patch = self.patch(
                    &target.url,
                    target.offset,
                    len,
                    body,
                    checksum,
                    headers,
                    progress,
                    cancel,
                );
                tokio::pin!(patch);
                loop {
                    tokio::select! {
                        result = &mut patch => break result,
                        // A hash computed alongside arrived: record the upload now, not
                        // after this chunk, which may be the whole file.
                        () = resumption.hash_arrived(), if resumption.waiting() => {
                            resumption.save(&point(target)).await.map_err(Failure::Fatal)?;
                        }
                    }
                }
            };
            match result {
                Ok(new_offset) => {
                    target.offset = new_offset;
                    progress.report(new_offset);
                    checksum_failures = 0;
                    if attempts.any() {
                        progress.note(None);
                    }
                    attempts.progressed();
                    resumption
                        .save(&point(target))
                        .await
                        .map_err(Failure::Fatal)?;
                }
                Err(Failure::Retry { reason, after }) => {
                    self.back_off(
                        &mut attempts,
                        "sending data",
                        &reason,
                        after,
                        progress,
                        cancel,
                    )
                    .await?;
                    self.resync(target, request.size, headers, progress, cancel)
                        .await?;
                }
                Err(Failure::Conflict) => {
                    // The server has another offset than we thought: ask, never resend blindly.
                    tracing::info!(url = %target.url, "409 Conflict: asking the server for its offset");
                    self.resync(target, request.size, headers, progress, cancel)
                        .await?;
                    if attempts.fail(&self.config.retry).is_none() {
                        return Err(Failure::Fatal(CoreError::Remote(format!(
                            "{} keeps answering 409 Conflict at offset {}; retry the job later",
                            self.display, target.offset
                        ))));
                    }
                }
                Err(Failure::TooLarge) => self.shrink_chunk(chunk_size, len, progress)?,
                Err(Failure::ChecksumMismatch { status }) => {
                    checksum_failures += 1;
                    self.chunk_damaged(checksum_failures, status, target.offset, progress)?;
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// After a 413: halves the chunk size, down to [`MIN_CHUNK_SIZE`], and says so.
    fn shrink_chunk(
        &self,
        chunk_size: &mut u64,
        refused: u64,
        progress: &dyn ProgressSink,
    ) -> Result<(), Failure> {
        if *chunk_size <= MIN_CHUNK_SIZE {
            return Err(Failure::Fatal(CoreError::Remote(format!(
                "{} refuses even {} requests (413 Payload Too Large); check its body size limit",
                self.display,
                human_bytes(*chunk_size)
            ))));
        }
        let smaller = (*chunk_size / 2).max(MIN_CHUNK_SIZE);
        let message = format!(
            "The server refused a {} request (413); sending {} chunks instead",
            human_bytes(refused),
            human_bytes(smaller)
        );
        tracing::warn!(from = *chunk_size, to = smaller, "{message}");
        progress.note(Some(message));
        *chunk_size = smaller;
        Ok(())
    }

    /// After a 460 (or 417): the chunk is resent a bounded number of times.
    fn chunk_damaged(
        &self,
        failures: u32,
        status: u16,
        offset: u64,
        progress: &dyn ProgressSink,
    ) -> Result<(), Failure> {
        tracing::warn!(
            offset,
            status,
            failures,
            "the server found the chunk's checksum wrong"
        );
        if failures > CHECKSUM_RESENDS {
            return Err(Failure::Fatal(CoreError::Remote(format!(
                "{} rejected the chunk at offset {offset} {failures} times in a row ({status}: checksum mismatch); the data is damaged on the way or the file is changing",
                self.display
            ))));
        }
        progress.note(Some(format!(
            "The server found a chunk damaged ({status}); sending it again"
        )));
        Ok(())
    }

    /// Takes the server's offset after a failed request. It may be ahead of ours (a
    /// request that failed after the data arrived) or, rarely, behind (a server that lost
    /// data): then the figures go back, and the job says why.
    async fn resync(
        &self,
        target: &mut Target,
        size: u64,
        headers: &HeaderMap,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), Failure> {
        let offset = self
            .server_offset(&target.url, size, headers, progress, cancel)
            .await?;
        if offset < target.offset {
            progress.restart(
                offset,
                Some(format!(
                    "The server kept {} of {}; continuing from there",
                    human_bytes(offset),
                    human_bytes(size)
                )),
            );
        } else {
            progress.report(offset);
        }
        target.offset = offset;
        Ok(())
    }

    /// The upload to continue for this file, if the ledger knows one and the server
    /// still has it.
    async fn find_previous(
        &self,
        key: &ResumeKey,
        size: u64,
        headers: &HeaderMap,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<Option<Target>, Failure> {
        let Some(saved) = self.ledger.load(key).await.map_err(Failure::Fatal)? else {
            return Ok(None);
        };
        let Ok(url) = Url::parse(&saved.upload_url) else {
            self.ledger.forget(key).await.map_err(Failure::Fatal)?;
            return Ok(None);
        };
        match self
            .server_offset(&url, size, headers, progress, cancel)
            .await
        {
            Ok(offset) => {
                tracing::info!(%url, offset, "resuming the upload");
                Ok(Some(Target {
                    url,
                    offset,
                    expires: saved.expires,
                }))
            }
            Err(Failure::Gone { status }) => {
                let why = gone_reason(status, saved.expires.as_deref());
                tracing::warn!(%url, "{why}");
                progress.note(Some(why));
                self.ledger.forget(key).await.map_err(Failure::Fatal)?;
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Creates an upload (retrying as the policy says) and records it in the ledger
    /// before any data goes.
    #[allow(clippy::too_many_arguments)]
    async fn create_recorded(
        &self,
        request: &UploadRequest,
        body: &mut UploadBody,
        caps: &Capabilities,
        headers: &HeaderMap,
        chunk_size: u64,
        resumption: &mut Resumption<'_>,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<Target, Failure> {
        let mut attempts = Attempts::default();
        let created = loop {
            match self
                .create(request, body, caps, headers, chunk_size, progress, cancel)
                .await
            {
                Err(Failure::Retry { reason, after }) => {
                    self.back_off(
                        &mut attempts,
                        "creating the upload",
                        &reason,
                        after,
                        progress,
                        cancel,
                    )
                    .await?;
                }
                other => break other?,
            }
        };
        if attempts.any() {
            progress.note(None);
        }
        resumption
            .save(&point(&created))
            .await
            .map_err(Failure::Fatal)?;
        Ok(created)
    }

    async fn run_upload(
        &self,
        request: &UploadRequest,
        body: &mut UploadBody,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
        resumption: &mut Resumption<'_>,
    ) -> Result<String, Failure> {
        let headers = self.headers().await?;
        let caps = self.capabilities(&headers, progress, cancel).await?;
        if let Some(max) = caps.max_size {
            if request.size > max {
                return Err(Failure::Fatal(CoreError::Refused(format!(
                    "{} is {} but {} accepts files up to {} (Tus-Max-Size); choose another destination",
                    request.name,
                    human_bytes(request.size),
                    self.display,
                    human_bytes(max)
                ))));
            }
        }
        let mut chunk_size = self.config.chunk_size.max(MIN_CHUNK_SIZE);
        let mut restarts = 0;
        let mut target = match resumption.key().cloned() {
            Some(key) => {
                self.find_previous(&key, request.size, &headers, progress, cancel)
                    .await?
            }
            None => None,
        };
        if target.is_none() {
            if let Some(url) = &self.config.upload_url {
                let offset = self
                    .server_offset(url, request.size, &headers, progress, cancel)
                    .await
                    .map_err(|failure| match failure {
                        Failure::Gone { status } => Failure::Fatal(CoreError::Remote(format!(
                            "the upload URL {url} is not usable ({}); ask the service for a new one",
                            if status == 0 { "it is for a file of another size".to_owned() } else { format!("{status}") }
                        ))),
                        other => other,
                    })?;
                target = Some(Target {
                    url: url.clone(),
                    offset,
                    expires: None,
                });
            }
        }
        loop {
            let mut current = if let Some(found) = target.take() {
                found
            } else {
                self.create_recorded(
                    request, body, &caps, &headers, chunk_size, resumption, progress, cancel,
                )
                .await?
            };
            if current.offset > 0 {
                progress.restart(current.offset, None);
            }
            match self
                .transfer(
                    &mut current,
                    request,
                    body,
                    &caps,
                    &headers,
                    resumption,
                    &mut chunk_size,
                    progress,
                    cancel,
                )
                .await
            {
                Ok(()) => {
                    progress.report(request.size);
                    return Ok(current.url.to_string());
                }
                Err(Failure::Gone { status })
                    if self.config.upload_url.is_none() && restarts < MAX_RESTARTS =>
                {
                    restarts += 1;
                    let why = gone_reason(status, current.expires.as_deref());
                    tracing::warn!(url = %current.url, "{why}");
                    resumption.forget().await.map_err(Failure::Fatal)?;
                    progress.restart(0, Some(why));
                }
                Err(Failure::Gone { status }) => {
                    return Err(Failure::Fatal(CoreError::Remote(format!(
                        "{} lost the upload of {} again ({}); retry the job",
                        self.display,
                        request.name,
                        if status == 0 {
                            "its offset no longer fits the file".to_owned()
                        } else {
                            status.to_string()
                        }
                    ))))
                }
                Err(other) => {
                    self.end_if_unrecorded(resumption, &current.url).await;
                    return Err(other);
                }
            }
        }
    }

    /// Ends an upload that stops here and that nothing can find again (its hash was
    /// not known yet, or another job holds its key), rather than leave it to expire at
    /// the server.
    async fn end_if_unrecorded(&self, resumption: &Resumption<'_>, url: &Url) {
        if resumption.recorded() || self.config.upload_url.is_some() {
            return;
        }
        if let Err(error) = self.terminate(url).await {
            tracing::warn!(%url, %error, "could not end an unrecorded upload");
        }
    }

    /// Claims `key` for one running upload; `None` when another job with the same
    /// content is uploading it right now (this one then uploads without resuming).
    fn claim(&self, key: ResumeKey) -> Option<Claim<'_>> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active
            .insert(key.clone())
            .then_some(Claim { owner: self, key })
    }
}

/// Holds a resume key for one upload; released on drop.
struct Claim<'a> {
    owner: &'a TusDestination,
    key: ResumeKey,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.owner
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Where one upload's resume points go: under its resume key, once its content hash is
/// known and no other running job holds the same key.
struct Resumption<'a> {
    owner: &'a TusDestination,
    size: u64,
    claim: Option<Claim<'a>>,
    /// The hash still being computed alongside the upload; `None` once it arrived or
    /// hashing stopped.
    pending: Option<PendingHash>,
}

impl<'a> Resumption<'a> {
    fn new(owner: &'a TusDestination, request: &UploadRequest) -> Self {
        let mut resumption = Self {
            owner,
            size: request.size,
            claim: None,
            pending: None,
        };
        if request.blake3.is_empty() {
            resumption.pending.clone_from(&request.hashing);
        } else {
            resumption.take_hash(&request.blake3);
        }
        resumption
    }

    fn take_hash(&mut self, blake3: &str) {
        self.pending = None;
        self.claim = self.owner.claim(self.owner.resume_key(blake3, self.size));
        if self.claim.is_none() {
            tracing::info!(
                "the same content is uploading in another job; this one starts its own upload"
            );
        }
    }

    /// The key resume points are saved under, if there is one yet.
    fn key(&self) -> Option<&ResumeKey> {
        self.claim.as_ref().map(|claim| &claim.key)
    }

    /// True while the hash computed alongside may still arrive.
    fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// True when a restart of Ferry would find this upload again.
    fn recorded(&self) -> bool {
        self.claim.is_some()
    }

    /// Waits for the hash computed alongside, then claims the key it gives.
    async fn hash_arrived(&mut self) {
        let Some(pending) = self.pending.as_mut() else {
            return std::future::pending().await;
        };
        match pending.arrived().await {
            Some(blake3) => self.take_hash(&blake3),
            None => self.pending = None,
        }
    }

    /// Saves `point` under the key, taking the hash first if it arrived meanwhile.
    async fn save(&mut self, point: &ResumePoint) -> Result<(), CoreError> {
        if let Some(blake3) = self.pending.as_ref().and_then(PendingHash::now) {
            self.take_hash(&blake3);
        }
        match self.key() {
            Some(key) => self.owner.ledger.save(key, point).await,
            None => Ok(()),
        }
    }

    /// Forgets the saved point (the server lost the upload).
    async fn forget(&self) -> Result<(), CoreError> {
        match self.key() {
            Some(key) => self.owner.ledger.forget(key).await,
            None => Ok(()),
        }
    }
}

fn point(target: &Target) -> ResumePoint {
    ResumePoint {
        upload_url: target.url.to_string(),
        offset: target.offset,
        expires: target.expires.clone(),
    }
}

/// The certificates in a CA file's PEM text. Fails when there is none: reqwest's own
/// `Certificate::from_pem` accepts any bytes and, with rustls, a DER file or a key file
/// would then add no root at all, so the destination would be built as if the CA were
/// trusted and every upload would fail later with an untrusted certificate.
fn ca_certificates(pem: &[u8], path: &Path) -> Result<Vec<reqwest::Certificate>, CoreError> {
    let not_pem = |why: String| {
        CoreError::Remote(format!(
            "the CA certificate {} {why}; export the CA certificate in PEM format (a text file with a -----BEGIN CERTIFICATE----- block)",
            path.display()
        ))
    };
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| not_pem(format!("is not a valid PEM certificate ({e})")))?;
    if certs.is_empty() {
        return Err(not_pem("contains no PEM certificate".into()));
    }
    Ok(certs)
}

/// Refuses an upload URL that would send over plain HTTP what the endpoint sends over
/// HTTPS (a server or a proxy that writes `http://` into `Location`).
fn refuse_downgrade(endpoint: &Url, upload: &Url) -> Result<(), CoreError> {
    if endpoint.scheme() == "https" && upload.scheme() != "https" {
        return Err(CoreError::Remote(format!(
            "the server at {endpoint} gave the upload address {upload}, which is not HTTPS; Ferry will not send the file unencrypted. Fix the server's public URL setting"
        )));
    }
    Ok(())
}

/// Why an upload starts over, for the job's note and the log.
fn gone_reason(status: u16, expires: Option<&str>) -> String {
    let status = match status {
        0 => "its offset no longer fits the file".to_owned(),
        410 => "410 Gone".to_owned(),
        404 => "404 Not Found".to_owned(),
        other => other.to_string(),
    };
    match expires {
        Some(expires) => format!(
            "The server no longer has the earlier upload ({status}; it expired {expires}); starting again"
        ),
        None => format!("The server no longer has the earlier upload ({status}); starting again"),
    }
}

/// `Upload-Metadata`: file name, type and content hash, each base64-encoded. The hash
/// is left out when the upload starts before it is known (a large file seen for the
/// first time, hashed alongside its upload).
fn upload_metadata(request: &UploadRequest) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut metadata = format!(
        "filename {},filetype {}",
        b64(&request.name),
        b64(&request.mime)
    );
    if !request.blake3.is_empty() {
        metadata.push_str(",blake3 ");
        metadata.push_str(&b64(&request.blake3));
    }
    metadata
}

/// Completes once nothing moved for `timeout`: `moved` changes whenever a piece of the
/// body is taken by the connection. After the whole body went, the wait for the answer
/// gets the same allowance.
async fn stall_watch(mut moved: watch::Receiver<u64>, timeout: Duration) {
    loop {
        match tokio::time::timeout(timeout, moved.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                tokio::time::sleep(timeout).await;
                return;
            }
            Err(_) => return,
        }
    }
}

fn into_core(failure: Failure, display: &str) -> CoreError {
    match failure {
        Failure::Fatal(err) => err,
        Failure::Interrupted => CoreError::Interrupted,
        Failure::Retry { reason, .. } => CoreError::Remote(reason),
        Failure::Conflict => {
            CoreError::Remote(format!("{display} answered 409 Conflict; retry the job"))
        }
        Failure::Gone { status } => CoreError::Remote(format!(
            "{display} no longer has the upload ({status}); retry the job to start it again"
        )),
        Failure::TooLarge => {
            CoreError::Remote(format!("{display} refused the request as too large (413)"))
        }
        Failure::ChecksumMismatch { status } => CoreError::Remote(format!(
            "{display} found the data damaged ({status}); retry the job"
        )),
    }
}

#[async_trait::async_trait]
impl Destination for TusDestination {
    fn name(&self) -> &str {
        &self.display
    }

    fn policy(&self) -> DestinationPolicy {
        DestinationPolicy {
            max_size: self.cached_capabilities().and_then(|caps| caps.max_size),
            ..DestinationPolicy::default()
        }
    }

    fn resumable(&self) -> bool {
        true
    }

    fn throttle(&self) -> Option<Arc<Throttle>> {
        self.throttle.clone()
    }

    /// The hash is needed first only where it decides something before the first
    /// byte: a small file (hashed in milliseconds, so its metadata carries the hash), a
    /// pre-made upload URL, or a file of a size that has an unfinished upload here,
    /// which it may continue. Any other file starts sending at once.
    async fn needs_hash_first(&self, size: u64) -> Result<bool, CoreError> {
        if size <= HASH_FIRST_UP_TO || self.config.upload_url.is_some() {
            return Ok(true);
        }
        self.ledger.holds_size(&self.ledger_identity(), size).await
    }

    async fn upload(
        &self,
        request: &UploadRequest,
        body: &mut UploadBody,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<String, CoreError> {
        let mut resumption = Resumption::new(self, request);
        self.run_upload(request, body, progress, cancel, &mut resumption)
            .await
            .map_err(|failure| into_core(failure, &self.display))
    }

    async fn verify(
        &self,
        remote: &str,
        expected: &ExpectedContent,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), CoreError> {
        let url = Url::parse(remote)
            .map_err(|e| CoreError::Remote(format!("`{remote}` is not an upload URL ({e})")))?;
        let headers = self.headers().await?;
        let (offset, length) = self
            .with_retries("checking the finished upload", progress, cancel, || {
                self.head(&url, &headers)
            })
            .await
            .map_err(|failure| into_core(failure, &self.display))?;
        let key = self.resume_key(&expected.blake3, expected.size);
        if offset != expected.size || length.is_some_and(|l| l != expected.size) {
            self.ledger.forget(&key).await?;
            return Err(CoreError::VerifyMismatch {
                remote: remote.to_owned(),
                detail: format!(
                    "the server has {offset} bytes of {} announced, the file has {}",
                    length.map_or_else(|| "an unknown length".to_owned(), |l| l.to_string()),
                    expected.size
                ),
            });
        }
        progress.report(expected.size);
        self.ledger.forget(&key).await?;
        Ok(())
    }

    async fn discard(&self, request: &UploadRequest) -> Result<(), CoreError> {
        if request.blake3.is_empty() {
            return Ok(());
        }
        let key = self.resume_key(&request.blake3, request.size);
        let Some(saved) = self.ledger.load(&key).await? else {
            return Ok(());
        };
        if self.config.upload_url.is_none() {
            if let Ok(url) = Url::parse(&saved.upload_url) {
                self.terminate(&url).await?;
            }
        }
        self.ledger.forget(&key).await
    }

    async fn remove(&self, remote: &str) -> Result<(), CoreError> {
        if self.config.upload_url.is_some() {
            return Ok(());
        }
        match Url::parse(remote) {
            Ok(url) => self.terminate(&url).await,
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_base64_per_value() {
        let request = UploadRequest {
            job_id: crate::model::JobId(1),
            source: PathBuf::from("/tmp/a b.txt"),
            name: "a b.txt".into(),
            size: 3,
            mime: "text/plain".into(),
            blake3: "ab".into(),
            hashing: None,
        };
        assert_eq!(
            upload_metadata(&request),
            "filename YSBiLnR4dA==,filetype dGV4dC9wbGFpbg==,blake3 YWI="
        );
        let hashed_alongside = UploadRequest {
            blake3: String::new(),
            ..request
        };
        assert_eq!(
            upload_metadata(&hashed_alongside),
            "filename YSBiLnR4dA==,filetype dGV4dC9wbGFpbg=="
        );
    }

    #[test]
    fn a_ca_file_without_a_pem_certificate_is_refused() {
        let path = Path::new("/etc/ca.der");
        for bytes in [
            &b""[..],
            b"\x30\x82\x01\x0a\x02\x82",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let error = ca_certificates(bytes, path).unwrap_err().to_string();
            assert!(
                error.contains("/etc/ca.der")
                    && error.contains("no PEM certificate")
                    && error.contains("PEM format"),
                "{error}"
            );
        }
        let error = ca_certificates(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("is not a valid PEM certificate"), "{error}");
    }

    #[test]
    fn an_https_endpoint_never_hands_data_to_plain_http() {
        let https: Url = "https://tus.example/files/".parse().unwrap();
        let http: Url = "http://tus.example/files/".parse().unwrap();
        let error = refuse_downgrade(&https, &"http://tus.example/files/1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("not HTTPS"), "{error}");
        assert!(refuse_downgrade(&https, &"https://cdn.example/1".parse().unwrap()).is_ok());
        assert!(refuse_downgrade(&http, &"http://tus.example/files/1".parse().unwrap()).is_ok());
    }

    #[test]
    fn gone_reasons_say_what_happened() {
        assert!(gone_reason(410, None).contains("410 Gone"));
        assert!(gone_reason(404, Some("Tue, 24 Nov 2026 10:00:00 GMT")).contains("expired"));
    }
}
