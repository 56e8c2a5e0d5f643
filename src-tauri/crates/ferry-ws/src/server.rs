//! The authenticated loopback WebSocket server that streams progress to every client.
//!
//! One task per connection. The engine publishes into a broadcast channel that never
//! waits; the hub numbers and encodes each message once (each job's progress at most
//! `progress_per_sec` times a second) into one shared ring, and each connection reads the
//! ring at its own pace from its own cursor, so a slow client only ever holds up itself:
//! what waits for it goes out in one write, with the progress messages in a row merged
//! into one and those that newer figures replace left out; it is resynced with a fresh
//! snapshot when it falls further behind than the ring holds, and dropped when one write
//! takes longer than the write timeout.

use crate::access::{AccessPolicy, Refusal, WEBVIEW_ORIGINS};
use crate::backend::Backend;
use crate::connection_file;
use crate::encoded::{coalesce_batch, merge_progress, Encoded};
use crate::error::WsError;
use crate::hub::{Follower, Hub, HubSizes, Lagged, Start, Subscription};
use crate::io::GatheredWrites;
use crate::metrics::{add, bump, Metrics};
use crate::outbox::Unacked;
use crate::protocol::{
    close_code, decode_client_message, ClientMessage, Command, CommandResult, ConnectionInfo,
    ErrorCode, Limits, MetricsSnapshot, ProtocolError, ServerMessage, PROTOCOL,
};
use crate::rate::Gcra;
use crate::token::Token;
use ferry_core::Engine;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OnceCell as ReplyCell;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsProtocolError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// How the server behaves; the defaults are what the desktop app uses.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Origins of web pages allowed to connect, compared exactly. Native clients send
    /// no Origin and are let in on the token alone.
    pub allowed_origins: Vec<String>,
    /// Largest message a client may send, in bytes; larger ones close the socket (1009).
    pub max_message_size: usize,
    /// Time allowed from TCP accept to a finished WebSocket handshake; past it the TCP
    /// connection is dropped.
    pub handshake_timeout: Duration,
    /// Time allowed from the handshake to the client's `hello`; past it the connection
    /// is closed with 4408.
    pub hello_timeout: Duration,
    /// Time allowed for one batch of messages to be written to a client before it is
    /// dropped as stalled, so a client that stops reading holds nothing up for long.
    pub write_timeout: Duration,
    /// Most simultaneous clients; one more is refused with HTTP 503 before the upgrade.
    pub max_connections: usize,
    /// Most TCP connections still in their handshake; more are dropped at once.
    pub max_pending_handshakes: usize,
    /// Figures of one job each client receives per second at most (latest value wins;
    /// stage changes and each stage's last figure always arrive). A figure of a job that
    /// reports no faster than this goes out at once. 0 sends every figure as it comes.
    pub progress_per_sec: u32,
    /// Times per second at most the clients are woken to send what is new, unless a
    /// running stage's figure is among it: a stage change, a stage's end or a terminal
    /// event published within `1 / updates_per_sec` of the previous wake-up waits for
    /// the next one, and what waited goes out together, in one write to each client. A
    /// running stage's figure is never held (`progress_per_sec` already paces it) and
    /// takes whatever waits with it; after a wake-up with such a figure, what waits
    /// gets a fifth of a period more to go out with the next one. A burst of short jobs then
    /// costs each client a few wake-ups and writes a second instead of one per stage
    /// change. 0 wakes the clients for every message.
    ///
    /// 10 by default: each wake-up costs the server a write to every client (about
    /// 20 µs of CPU each on loopback, most of it the kernel delivering the bytes) and
    /// each client a read, and with 50 clients watching a burst of short jobs, 20 a
    /// second took about twice the CPU of 10 (see the README's benchmark). A stage
    /// change still shows within 100 ms (120 ms while figures flow), which reads as
    /// instant.
    pub updates_per_sec: u32,
    /// Messages a client may fall behind the live stream before it is resynced with a
    /// fresh snapshot. Progress that a later message replaces does not count.
    pub client_queue: usize,
    /// Messages kept to replay to a reconnecting client; older gaps get a snapshot.
    pub replay_capacity: usize,
    /// Terminal events kept to send again until acknowledged.
    pub terminal_capacity: usize,
    /// Time before an unacknowledged terminal event is sent again.
    pub ack_timeout: Duration,
    /// Time between the server's pings.
    pub ping_interval: Duration,
    /// Unanswered pings in a row that close the connection with 4408.
    pub missed_pongs: u32,
    /// Inbound messages per second a client may keep up; 0 turns the limit off.
    pub max_messages_per_sec: u32,
    /// Inbound messages a client may send in one burst above that rate.
    pub message_burst: u32,
    /// Invalid messages in a row that close the connection with 1008.
    pub max_invalid_in_a_row: u32,
    /// Bytes read from the socket at a time, per connection (tungstenite's default is
    /// 128 KiB; a small buffer keeps idle connections cheap).
    pub read_buffer_size: usize,
    /// Most bytes buffered for writing to one client; must hold the largest message
    /// (a welcome with every job).
    pub max_write_buffer_size: usize,
    /// The kernel's send buffer for each connection, if set (tests use a small one so
    /// that a client that stops reading fills it quickly).
    pub send_buffer_size: Option<u32>,
    /// Command ids remembered, so a resent command has its effect once.
    pub command_memory: usize,
    /// How often the counters are written to the log; `None` never (they are still
    /// logged at shutdown).
    pub metrics_log_interval: Option<Duration>,
    /// Where to write `{url, token, pid}` for native clients; `None` writes nothing.
    pub connection_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            allowed_origins: WEBVIEW_ORIGINS.iter().map(|o| (*o).to_owned()).collect(),
            max_message_size: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 64,
            max_pending_handshakes: 64,
            progress_per_sec: 20,
            updates_per_sec: 10,
            client_queue: 1024,
            replay_capacity: 1024,
            terminal_capacity: 4096,
            ack_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            missed_pongs: 2,
            max_messages_per_sec: 50,
            message_burst: 100,
            max_invalid_in_a_row: 5,
            read_buffer_size: 4 * 1024,
            max_write_buffer_size: 16 * 1024 * 1024,
            send_buffer_size: None,
            command_memory: 1024,
            metrics_log_interval: Some(Duration::from_secs(300)),
            connection_file: None,
        }
    }
}

impl ServerConfig {
    fn limits(&self) -> Limits {
        let millis = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        Limits {
            max_message_bytes: u32::try_from(self.max_message_size).unwrap_or(u32::MAX),
            max_messages_per_sec: self.max_messages_per_sec,
            message_burst: self.message_burst,
            progress_per_sec: self.progress_per_sec,
            updates_per_sec: self.updates_per_sec,
            ack_timeout_ms: millis(self.ack_timeout),
            ping_interval_ms: millis(self.ping_interval),
            max_invalid_in_a_row: self.max_invalid_in_a_row,
        }
    }
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    info: ConnectionInfo,
    addr: SocketAddr,
    epoch: String,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

struct Shared {
    backend: Arc<dyn Backend>,
    hub: Hub,
    policy: AccessPolicy,
    config: ServerConfig,
    limits: Limits,
    /// Connection slots taken, from the handshake callback until the connection ends.
    slots: AtomicUsize,
    handshakes: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    commands: Mutex<CommandMemory>,
    stop: CancellationToken,
}

impl Server {
    /// Binds 127.0.0.1 on an ephemeral port, draws a fresh token and epoch, writes the
    /// connection file if asked, and starts serving `engine`'s progress.
    pub async fn start(engine: Engine, config: ServerConfig) -> Result<Self, WsError> {
        Self::start_with_backend(Arc::new(engine), config).await
    }

    /// Like [`Server::start`], with any [`Backend`] behind the socket.
    pub async fn start_with_backend(
        backend: Arc<dyn Backend>,
        config: ServerConfig,
    ) -> Result<Self, WsError> {
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| WsError::Bind {
                addr: bind.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| WsError::Bind {
            addr: bind.to_string(),
            source,
        })?;
        let token = Token::generate();
        let info = ConnectionInfo {
            url: format!("ws://{addr}"),
            token: token.encoded(),
            pid: std::process::id(),
        };
        if let Some(path) = &config.connection_file {
            connection_file::write(path, &info)?;
        }
        let epoch = format!("{:016x}", rand::random::<u64>());
        let stop = CancellationToken::new();
        let limits = config.limits();
        let metrics = Arc::new(Metrics::default());
        let hub = Hub::start(
            Arc::clone(&backend),
            epoch.clone(),
            limits.clone(),
            HubSizes {
                progress_per_sec: config.progress_per_sec,
                updates_per_sec: config.updates_per_sec,
                client_queue: config.client_queue,
                replay: config.replay_capacity,
                terminals: config.terminal_capacity,
            },
            stop.clone(),
            Arc::clone(&metrics.coalesced),
        );
        let shared = Arc::new(Shared {
            backend,
            hub,
            policy: AccessPolicy {
                token,
                allowed_origins: config.allowed_origins.clone(),
                port: addr.port(),
            },
            limits,
            slots: AtomicUsize::new(0),
            handshakes: Arc::new(Semaphore::new(config.max_pending_handshakes.max(1))),
            metrics,
            commands: Mutex::new(CommandMemory::new(config.command_memory)),
            config,
            stop,
        });
        let accept_loop = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        if let Some(every) = shared.config.metrics_log_interval {
            tokio::spawn(log_metrics(Arc::clone(&shared), every));
        }
        tracing::info!(%addr, %epoch, "progress server listening");
        Ok(Self {
            info,
            addr,
            epoch,
            shared,
            accept_loop,
        })
    }

    /// URL, token and pid, as given to the webview.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The loopback address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// This run's epoch: sequence numbers count within it.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The counters as of now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Watches the number of open connections (past the handshake).
    pub fn watch_connections(&self) -> watch::Receiver<u64> {
        self.shared.metrics.watch_open()
    }

    /// Watches the number of tasks the server runs for clients: one per connection
    /// (from the TCP accept on) and one per command in progress.
    pub fn watch_tasks(&self) -> watch::Receiver<u64> {
        self.shared.metrics.watch_tasks()
    }

    /// Removes the connection file, stops accepting, closes every connection with 1001
    /// (going away) and waits up to five seconds for them to end. The file goes first,
    /// so a client told the server is going away never finds it still there.
    pub async fn shutdown(self) {
        if let Some(path) = &self.shared.config.connection_file {
            connection_file::remove(path);
        }
        self.shared.stop.cancel();
        let _ = self.accept_loop.await;
        let mut tasks = self.shared.metrics.watch_tasks();
        if tokio::time::timeout(Duration::from_secs(5), tasks.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            tracing::warn!("some connections did not end within 5 s of shutdown");
        }
        self.shared.metrics.log("progress server stopped");
    }
}

async fn log_metrics(shared: Arc<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    let mut last = MetricsSnapshot::default();
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            _ = ticks.tick() => {
                let now = shared.metrics.snapshot();
                if now != last {
                    shared.metrics.log("progress server counters");
                    last = now;
                }
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&shared.handshakes).try_acquire_owned() else {
                        bump(&shared.metrics.refused);
                        tracing::info!(%peer, "too many handshakes under way; dropped a connection");
                        continue;
                    };
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let _task = shared.metrics.task();
                        if let Err(error) = serve(stream, Arc::clone(&shared), permit).await {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

type Socket = WebSocketStream<GatheredWrites<TcpStream>>;
type Sink = SplitSink<Socket, Message>;
type Incoming = SplitStream<Socket>;

/// A connection slot, given back however the connection ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn take_slot(&self) -> Option<Slot<'_>> {
        let taken = self.slots.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(&self.slots);
        (taken < self.config.max_connections).then_some(slot)
    }
}

/// Why a connection ended early, as a close frame.
struct Closing {
    code: u16,
    reason: String,
}

impl Closing {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

async fn serve(
    stream: TcpStream,
    shared: Arc<Shared>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(), WsError> {
    let _ = stream.set_nodelay(true);
    if let Some(size) = shared.config.send_buffer_size {
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(size as usize);
    }
    let mut slot = None;
    // The signature is tungstenite's; the error is the HTTP response sent on refusal.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, mut response: Response| {
        let refusal = match shared.policy.check(request.headers()) {
            Ok(()) => match shared.take_slot() {
                Some(taken) => {
                    slot = Some(taken);
                    None
                }
                None => Some(Refusal::TooManyConnections),
            },
            Err(refusal) => Some(refusal),
        };
        match refusal {
            None => {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static(PROTOCOL));
                Ok(response)
            }
            Some(refusal) => {
                bump(&shared.metrics.refused);
                tracing::info!(reason = %refusal.reason(), "refused a WebSocket upgrade");
                let mut error = ErrorResponse::new(Some(refusal.reason()));
                *error.status_mut() = refusal.status();
                if refusal == Refusal::TooManyConnections {
                    error
                        .headers_mut()
                        .insert("retry-after", HeaderValue::from_static("1"));
                }
                Err(error)
            }
        }
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(shared.config.read_buffer_size)
        .write_buffer_size(0)
        .max_write_buffer_size(shared.config.max_write_buffer_size.max(1))
        .max_message_size(Some(shared.config.max_message_size))
        .max_frame_size(Some(shared.config.max_message_size));
    let stream = GatheredWrites::new(stream);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    let socket = tokio::select! {
        () = shared.stop.cancelled() => return Ok(()),
        done = tokio::time::timeout(shared.config.handshake_timeout, handshake) => {
            done.map_err(|_| WsError::Timeout("the WebSocket handshake"))??
        }
    };
    drop(permit);
    let _slot = slot;
    let _open = shared.metrics.open_connection();
    let (mut sink, incoming) = socket.split();
    let mut connection = Connection::new(Arc::clone(&shared), incoming);
    let ending = connection.run(&mut sink).await;
    match ending {
        Ok(Some(closing)) => {
            if closing.code != 1001 && closing.code != 1000 {
                bump(&shared.metrics.closed_limit);
            }
            close(&mut sink, closing.code, &closing.reason).await;
            Ok(())
        }
        Ok(None) => {
            // A client that closed is owed the answer tungstenite queued for its close
            // frame. tungstenite writes it at a flush, and then stops with "connection
            // closed" before flushing the stream, so the answer would stay gathered
            // below it and the client see an abnormal closure (1006), not a clean one.
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.flush()).await;
            if let Ok(mut socket) = sink.reunite(connection.incoming) {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    AsyncWriteExt::flush(socket.get_mut()),
                )
                .await;
            }
            Ok(())
        }
        Err(error) => {
            if matches!(error, WsError::Timeout(_)) {
                bump(&shared.metrics.closed_slow);
            }
            Err(error)
        }
    }
}

/// One connection's state after the handshake.
struct Connection {
    shared: Arc<Shared>,
    incoming: Incoming,
    limiter: Option<Gcra>,
    invalid_in_a_row: u32,
    unacked: Unacked,
    /// The `seq` of the newest broadcast message sent (or replaced by a snapshot).
    sent: u64,
    replies: mpsc::Sender<Box<ServerMessage>>,
    outbox: mpsc::Receiver<Box<ServerMessage>>,
    batch: Vec<Arc<Encoded>>,
}

/// What one inbound frame asks of the connection.
enum Inbound {
    Nothing,
    Hello(Option<String>, Option<u64>),
    Send(Box<ServerMessage>),
    Close(Closing),
    Ended,
}

impl Connection {
    fn new(shared: Arc<Shared>, incoming: Incoming) -> Self {
        let config = &shared.config;
        let (replies, outbox) = mpsc::channel(8);
        let limiter = Gcra::new(config.max_messages_per_sec, config.message_burst);
        let unacked = Unacked::new(config.ack_timeout, config.terminal_capacity);
        Self {
            shared,
            incoming,
            limiter,
            invalid_in_a_row: 0,
            unacked,
            sent: 0,
            replies,
            outbox,
            batch: Vec::new(),
        }
    }

    /// Serves the connection until it ends: `Some` when the server closes it.
    async fn run(&mut self, sink: &mut Sink) -> Result<Option<Closing>, WsError> {
        let shared = Arc::clone(&self.shared);
        // The client speaks first: a hello, within the deadline.
        let deadline = Instant::now() + shared.config.hello_timeout;
        let (epoch, last_seq) = loop {
            let frame = tokio::select! {
                () = shared.stop.cancelled() => return Ok(Some(going_away())),
                () = tokio::time::sleep_until(deadline) => {
                    return Ok(Some(Closing::new(close_code::TIMEOUT, "no hello within the deadline; send {\"type\":\"hello\"} first")));
                }
                frame = self.incoming.next() => frame,
            };
            match self.inbound(frame, false) {
                Inbound::Hello(epoch, last_seq) => break (epoch, last_seq),
                Inbound::Send(message) => self.send_one(sink, &message).await?,
                Inbound::Close(closing) => return Ok(Some(closing)),
                Inbound::Ended => return Ok(None),
                Inbound::Nothing => {}
            }
        };

        let Subscription {
            start,
            cursor,
            mut stream,
        } = shared.hub.subscribe(epoch.as_deref().zip(last_seq));
        self.sent = cursor;
        match start {
            Start::Welcome { welcome, terminals } => {
                self.send_one(sink, &welcome).await?;
                self.batch = terminals;
            }
            Start::Resume { resume, replay } => {
                self.send_one(sink, &resume).await?;
                self.batch = replay;
            }
        }
        self.flush_batch(sink).await?;

        let ping_every = shared.config.ping_interval.max(Duration::from_millis(1));
        let mut pings = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unanswered = 0u32;
        let far = || Instant::now() + Duration::from_secs(86_400);

        loop {
            let resend_at = self.unacked.deadline();
            tokio::select! {
                () = shared.stop.cancelled() => return Ok(Some(going_away())),
                live = stream.changed() => {
                    if !live {
                        return Ok(Some(going_away()));
                    }
                    self.take_feed(sink, &stream).await?;
                }
                () = tokio::time::sleep_until(resend_at.unwrap_or_else(far)), if resend_at.is_some() => {
                    let due = self.unacked.due(Instant::now());
                    add(&shared.metrics.resent, due.len() as u64);
                    self.write_batch(sink, &due).await?;
                }
                _ = pings.tick() => {
                    if unanswered >= shared.config.missed_pongs {
                        let reason = format!("{unanswered} pings went unanswered");
                        bump(&shared.metrics.closed_slow);
                        return Ok(Some(Closing::new(close_code::TIMEOUT, reason)));
                    }
                    unanswered += 1;
                    self.write(sink, Message::Ping(Vec::new().into())).await?;
                }
                Some(reply) = self.outbox.recv() => self.send_one(sink, &reply).await?,
                frame = self.incoming.next() => {
                    if matches!(frame, Some(Ok(Message::Pong(_)))) {
                        unanswered = 0;
                    }
                    match self.inbound(frame, true) {
                        Inbound::Send(message) => self.send_one(sink, &message).await?,
                        Inbound::Close(closing) => return Ok(Some(closing)),
                        Inbound::Ended => return Ok(None),
                        Inbound::Hello(..) | Inbound::Nothing => {}
                    }
                }
            }
        }
    }

    /// Sends what the shared stream holds for this client after what it was sent, in
    /// writes of up to [`CATCH_UP`] messages and about [`CATCH_UP_BYTES`]. A progress
    /// message that a later message in the same write replaces for every job it carries
    /// is left out, and the progress messages left in a row go out as one, so a client
    /// that fell behind catches up with the latest figures in a few frames instead of
    /// working through stale ones. One further behind than the stream holds gets a fresh
    /// snapshot.
    async fn take_feed(&mut self, sink: &mut Sink, stream: &Follower) -> Result<(), WsError> {
        loop {
            let found: Result<bool, Lagged> =
                stream.after(self.sent, CATCH_UP, CATCH_UP_BYTES, &mut self.batch);
            let more = if let Ok(more) = found {
                more
            } else {
                bump(&self.shared.metrics.lagged);
                tracing::info!("a client fell behind; sending it a fresh snapshot");
                self.batch.clear();
                let (welcome, terminals, cursor) = self.shared.hub.resync(self.sent);
                self.sent = cursor;
                self.send_one(sink, &welcome).await?;
                bump(&self.shared.metrics.resynced);
                self.batch = terminals;
                false
            };
            if self.batch.len() > 1 {
                let figures = |batch: &[Arc<Encoded>]| -> usize {
                    batch.iter().map(|m| m.figures.len()).sum()
                };
                let before = figures(&self.batch);
                self.batch = coalesce_batch(self.batch.iter());
                add(
                    &self.shared.metrics.coalesced,
                    (before - figures(&self.batch)) as u64,
                );
            }
            self.flush_batch(sink).await?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Reads one frame: counts it, checks the rate, decodes it and acts on it.
    fn inbound(
        &mut self,
        frame: Option<Result<Message, WsProtocolError>>,
        greeted: bool,
    ) -> Inbound {
        let shared = Arc::clone(&self.shared);
        let frame = match frame {
            None | Some(Ok(Message::Close(_))) => return Inbound::Ended,
            Some(Err(WsProtocolError::Capacity(reason))) => {
                let limit = shared.config.max_message_size;
                return Inbound::Close(Closing::new(
                    close_code::TOO_LARGE,
                    format!("message too large ({reason}); the limit is {limit} bytes"),
                ));
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "a client's connection failed");
                return Inbound::Ended;
            }
            Some(Ok(frame)) => frame,
        };
        bump(&shared.metrics.messages_in);
        add(&shared.metrics.bytes_in, frame.len() as u64);
        if let Some(limiter) = &mut self.limiter {
            if !limiter.allow(Instant::now()) {
                let limits = &shared.limits;
                return Inbound::Close(Closing::new(
                    close_code::RATE_LIMITED,
                    format!(
                        "too many messages: at most {} a second, bursts of {}",
                        limits.max_messages_per_sec, limits.message_burst
                    ),
                ));
            }
        }
        let decoded = match frame {
            Message::Text(text) => decode_client_message(text.as_str()),
            Message::Binary(_) => Err(ProtocolError {
                code: ErrorCode::InvalidData,
                message: "binary frames are not part of the protocol; send JSON text frames"
                    .to_owned(),
            }),
            // Pings are answered by tungstenite itself; pongs are counted by the caller.
            _ => return Inbound::Nothing,
        };
        let message = match decoded {
            Ok(ClientMessage::Hello { .. }) if greeted => Err(ProtocolError {
                code: ErrorCode::InvalidData,
                message: "hello was already received on this connection".to_owned(),
            }),
            Ok(ClientMessage::Hello { .. } | ClientMessage::Ping) | Err(_) if !greeted => decoded,
            Ok(_) if !greeted => Err(ProtocolError {
                code: ErrorCode::HelloRequired,
                message: "the first message must be {\"type\":\"hello\"}".to_owned(),
            }),
            other => other,
        };
        let message = match message {
            Ok(message) => {
                self.invalid_in_a_row = 0;
                message
            }
            Err(error) => {
                self.invalid_in_a_row += 1;
                if self.invalid_in_a_row >= shared.config.max_invalid_in_a_row {
                    return Inbound::Close(Closing::new(
                        close_code::INVALID_DATA,
                        format!(
                            "{} invalid messages in a row; the last: {}",
                            self.invalid_in_a_row,
                            truncate(&error.message, 80)
                        ),
                    ));
                }
                return Inbound::Send(Box::new(ServerMessage::Error {
                    seq: shared.hub.current_seq(),
                    error,
                }));
            }
        };
        match message {
            ClientMessage::Hello { epoch, last_seq } => Inbound::Hello(epoch, last_seq),
            ClientMessage::Ping => Inbound::Nothing,
            ClientMessage::Ack { seq } => {
                self.unacked.ack(seq);
                Inbound::Nothing
            }
            ClientMessage::Acks { seqs } => {
                for seq in seqs {
                    self.unacked.ack(seq);
                }
                Inbound::Nothing
            }
            ClientMessage::Metrics => Inbound::Send(Box::new(ServerMessage::Metrics {
                seq: shared.hub.current_seq(),
                metrics: shared.metrics.snapshot(),
            })),
            ClientMessage::Command { id, command } => {
                self.command(id, command);
                Inbound::Nothing
            }
        }
    }

    /// Runs a command beside the connection (a long enqueue never holds up progress),
    /// once per id: a resent id gets the first one's reply.
    fn command(&self, id: String, command: Command) {
        let remembered = self
            .shared
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remember(&id, &command);
        let replies = self.replies.clone();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let _task = shared.metrics.task();
            let backend = &shared.backend;
            let (result, error) = match remembered {
                Ok(entry) => entry
                    .reply
                    .get_or_init(|| async {
                        match backend.run(command).await {
                            Ok(result) => (Some(result), None),
                            Err(error) => (None, Some(error)),
                        }
                    })
                    .await
                    .clone(),
                Err(error) => (None, Some(error)),
            };
            let reply = ServerMessage::Reply {
                seq: shared.hub.current_seq(),
                id,
                result,
                error,
            };
            let _ = replies.send(Box::new(reply)).await;
        });
    }

    async fn send_one(&mut self, sink: &mut Sink, message: &ServerMessage) -> Result<(), WsError> {
        let text: Utf8Bytes = serde_json::to_string(message)?.into();
        let metrics = &self.shared.metrics;
        add(&metrics.bytes_out, text.len() as u64);
        let write = async {
            feed_text(sink, text).await?;
            sink.flush().await
        };
        tokio::time::timeout(self.shared.config.write_timeout, write)
            .await
            .map_err(|_| WsError::Timeout("a client to read its messages"))??;
        bump(&metrics.messages_out);
        Ok(())
    }

    async fn flush_batch(&mut self, sink: &mut Sink) -> Result<(), WsError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let now = Instant::now();
        for message in &batch {
            self.sent = self.sent.max(message.seq);
            self.unacked.sent(message, now);
        }
        let result = self.write_batch(sink, &batch).await;
        self.batch = batch;
        self.batch.clear();
        result
    }

    async fn write_batch(&self, sink: &mut Sink, batch: &[Arc<Encoded>]) -> Result<(), WsError> {
        if batch.is_empty() {
            return Ok(());
        }
        let metrics = &self.shared.metrics;
        let (mut messages, mut bytes, mut replaced) = (0, 0, 0);
        let write = async {
            let mut rest = batch;
            while let Some(first) = rest.first() {
                // Progress messages in a row go out as one (the newest figure of each
                // job), so a client that is behind reads one frame, not one per message.
                let text = if let Some(merged) = merge_progress(rest) {
                    replaced += merged.replaced;
                    rest = &rest[merged.taken..];
                    merged.text
                } else {
                    rest = &rest[1..];
                    first.text.clone()
                };
                messages += 1;
                bytes += text.len();
                feed_text(sink, text).await?;
            }
            // One flush, so the whole batch leaves in one write to the socket.
            sink.flush().await
        };
        let written = tokio::time::timeout(self.shared.config.write_timeout, write).await;
        add(&metrics.coalesced, replaced as u64);
        written.map_err(|_| WsError::Timeout("a client to read its messages"))??;
        add(&metrics.messages_out, messages);
        add(&metrics.bytes_out, bytes as u64);
        Ok(())
    }

    async fn write(&self, sink: &mut Sink, message: Message) -> Result<(), WsError> {
        let metrics = &self.shared.metrics;
        let counted = matches!(message, Message::Text(_));
        add(&metrics.bytes_out, message.len() as u64);
        tokio::time::timeout(self.shared.config.write_timeout, sink.send(message))
            .await
            .map_err(|_| WsError::Timeout("a client to read its messages"))??;
        if counted {
            bump(&metrics.messages_out);
        }
        Ok(())
    }
}

/// Largest frame the server writes. tungstenite copies each frame whole into the
/// connection's write buffer, whose capacity then never shrinks: one 30 KiB welcome would
/// leave every idle connection holding 30 KiB. Longer messages go out as a text frame
/// followed by continuation frames (RFC 6455 section 5.4), so the buffer stays this small.
const MAX_FRAME_BYTES: usize = 4 * 1024;

/// Most queued messages a connection takes in one write, so one busy client cannot keep
/// its task from the other branches (pings, replies) for long.
const CATCH_UP: usize = 256;

/// About the most bytes a connection takes in one write: the write timeout bounds one
/// write, so a write must stay small enough for a reading client to take in time.
const CATCH_UP_BYTES: usize = 64 * 1024;

/// Queues one text message, in frames of at most [`MAX_FRAME_BYTES`] (the pieces share
/// the message's bytes; nothing is copied here).
async fn feed_text(sink: &mut Sink, text: Utf8Bytes) -> Result<(), WsProtocolError> {
    if text.len() <= MAX_FRAME_BYTES {
        return sink.feed(Message::Text(text)).await;
    }
    let bytes = Bytes::from(text);
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + MAX_FRAME_BYTES).min(bytes.len());
        let opcode = if start == 0 {
            Data::Text
        } else {
            Data::Continue
        };
        let frame = Frame::message(
            bytes.slice(start..end),
            OpCode::Data(opcode),
            end == bytes.len(),
        );
        sink.feed(Message::Frame(frame)).await?;
        start = end;
    }
    Ok(())
}

fn going_away() -> Closing {
    Closing::new(1001, "the server is shutting down")
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: truncate(reason, 100).into(),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

/// A command and its reply, kept so a resent id has its effect once.
struct Remembered {
    command: Command,
    reply: ReplyCell<(Option<CommandResult>, Option<ProtocolError>)>,
}

/// The last command ids seen by the server (across connections, since a client may
/// resend after reconnecting), oldest forgotten first.
struct CommandMemory {
    capacity: usize,
    entries: HashMap<String, Arc<Remembered>>,
    order: VecDeque<String>,
}

impl CommandMemory {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The entry for `id`: new, or the earlier one when the same command is resent.
    fn remember(&mut self, id: &str, command: &Command) -> Result<Arc<Remembered>, ProtocolError> {
        if let Some(entry) = self.entries.get(id) {
            if entry.command == *command {
                return Ok(Arc::clone(entry));
            }
            return Err(ProtocolError {
                code: ErrorCode::IdReused,
                message: format!(
                    "the id `{}` was already used for a different command; use a fresh id for each command",
                    truncate(id, 40)
                ),
            });
        }
        if self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        let entry = Arc::new(Remembered {
            command: command.clone(),
            reply: ReplyCell::new(),
        });
        self.entries.insert(id.to_owned(), Arc::clone(&entry));
        self.order.push_back(id.to_owned());
        Ok(entry)
    }
}
