//! The authenticated loopback WebSocket server that streams progress to every client.

use crate::access::{AccessPolicy, WEBVIEW_ORIGINS};
use crate::connection_file;
use crate::error::WsError;
use crate::hub::{Hub, Subscription};
use crate::protocol::{
    ClientMessage, Command, CommandResult, ConnectionInfo, ErrorCode, ProtocolError, ServerMessage,
    PROTOCOL,
};
use crate::token::Token;
use ferry_core::{Engine, JobId};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsProtocolError, Message};
use tokio_tungstenite::WebSocketStream;

/// How the server behaves; the defaults are what the desktop app uses.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Origins of web pages allowed to connect, compared exactly. Native clients send
    /// no Origin and are let in on the token alone.
    pub allowed_origins: Vec<String>,
    /// Largest message a client may send, in bytes; larger ones close the socket (1009).
    pub max_message_size: usize,
    /// Time allowed from TCP accept to a finished WebSocket handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for one message to be written to a client before it is dropped as
    /// stalled, so a client that stops reading holds nothing up for long.
    pub write_timeout: Duration,
    /// Most simultaneous clients; one more is closed with 1013 (try again later).
    pub max_connections: usize,
    /// Where to write `{url, token, pid}` for native clients; `None` writes nothing.
    pub connection_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            allowed_origins: WEBVIEW_ORIGINS.iter().map(|o| (*o).to_owned()).collect(),
            max_message_size: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 64,
            connection_file: None,
        }
    }
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    info: ConnectionInfo,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept_loop: JoinHandle<()>,
    connection_file: Option<PathBuf>,
}

struct Shared {
    engine: Engine,
    hub: Hub,
    policy: AccessPolicy,
    config: ServerConfig,
    connections: AtomicUsize,
}

impl Server {
    /// Binds 127.0.0.1 on an ephemeral port, draws a fresh token, writes the connection
    /// file if asked, and starts accepting clients.
    pub async fn start(engine: Engine, config: ServerConfig) -> Result<Self, WsError> {
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
        let shared = Arc::new(Shared {
            hub: Hub::start(&engine, epoch),
            engine,
            policy: AccessPolicy {
                token,
                allowed_origins: config.allowed_origins.clone(),
                port: addr.port(),
            },
            config: config.clone(),
            connections: AtomicUsize::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let accept_loop = tokio::spawn(accept_loop(listener, shared, stopped));
        tracing::info!(%addr, "progress server listening");
        Ok(Self {
            info,
            addr,
            stop,
            accept_loop,
            connection_file: config.connection_file,
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

    /// Stops accepting, closes every connection with 1001 (going away) and removes the
    /// connection file.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.accept_loop.await;
        if let Some(path) = &self.connection_file {
            connection_file::remove(path);
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = Arc::clone(&shared);
                    let stopped = stopped.clone();
                    tokio::spawn(async move {
                        if let Err(error) = serve(stream, shared, stopped).await {
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

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// Decrements the connection count however the connection ends.
struct ConnectionSlot<'a>(&'a AtomicUsize);

impl Drop for ConnectionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), WsError> {
    let policy = shared.policy.clone();
    // The signature is tungstenite's; the error is the HTTP response sent on refusal.
    #[allow(clippy::result_large_err)]
    let check =
        move |request: &Request, mut response: Response| match policy.check(request.headers()) {
            Ok(()) => {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static(PROTOCOL));
                Ok(response)
            }
            Err(refusal) => {
                tracing::info!(reason = %refusal.reason(), "refused a WebSocket upgrade");
                let mut error = ErrorResponse::new(Some(refusal.reason()));
                *error.status_mut() = refusal.status();
                Err(error)
            }
        };
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(shared.config.max_message_size))
        .max_frame_size(Some(shared.config.max_message_size));
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    let socket = tokio::time::timeout(shared.config.handshake_timeout, handshake)
        .await
        .map_err(|_| WsError::Timeout("the WebSocket handshake"))??;

    let (mut sink, mut incoming) = socket.split();
    let _slot = ConnectionSlot(&shared.connections);
    if shared.connections.fetch_add(1, Ordering::SeqCst) >= shared.config.max_connections {
        close(
            &mut sink,
            CloseCode::Again,
            "too many connections; try again later",
        )
        .await;
        return Ok(());
    }

    let Subscription {
        welcome,
        mut stream,
    } = shared.hub.subscribe();
    send(&mut sink, &shared, &welcome).await?;
    let (replies, mut outbox) = mpsc::channel::<ServerMessage>(64);

    loop {
        tokio::select! {
            _ = stopped.changed() => {
                close(&mut sink, CloseCode::Away, "the server is shutting down").await;
                return Ok(());
            }
            broadcast = stream.recv() => match broadcast {
                Ok(encoded) => send_text(&mut sink, &shared, encoded.text.clone()).await?,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "a client fell behind; sending it a fresh snapshot");
                    send(&mut sink, &shared, &shared.hub.resync()).await?;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
            Some(reply) = outbox.recv() => send(&mut sink, &shared, &reply).await?,
            frame = incoming.next() => match frame {
                None | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(Message::Text(text))) => handle_text(text.as_str(), &shared, &replies).await,
                Some(Ok(Message::Binary(_))) => {
                    let error = protocol_error(ErrorCode::InvalidData, "binary frames are not part of the protocol; send JSON text frames");
                    send(&mut sink, &shared, &error_message(&shared, error)).await?;
                }
                Some(Ok(_)) => {} // Ping and Pong are answered by tungstenite itself.
                Some(Err(WsProtocolError::Capacity(reason))) => {
                    let limit = shared.config.max_message_size;
                    close(&mut sink, CloseCode::Size, &format!("message too large ({reason}); the limit is {limit} bytes")).await;
                    return Ok(());
                }
                Some(Err(error)) => return Err(error.into()),
            },
        }
    }
}

async fn handle_text(text: &str, shared: &Arc<Shared>, replies: &mpsc::Sender<ServerMessage>) {
    let message = match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => message,
        Err(error) => {
            let error = protocol_error(
                ErrorCode::InvalidData,
                &format!("the message is not a valid ferry.v1 message: {error}"),
            );
            let _ = replies.send(error_message(shared, error)).await;
            return;
        }
    };
    match message {
        ClientMessage::Ping => {}
        ClientMessage::Command { id, command } => {
            // Commands run beside the connection so a long enqueue never holds up progress.
            let shared = Arc::clone(shared);
            let replies = replies.clone();
            tokio::spawn(async move {
                let outcome = run_command(&shared.engine, command).await;
                let (result, error) = match outcome {
                    Ok(result) => (Some(result), None),
                    Err(error) => (None, Some(error)),
                };
                let seq = shared.hub.current_seq();
                let _ = replies
                    .send(ServerMessage::Reply {
                        seq,
                        id,
                        result,
                        error,
                    })
                    .await;
            });
        }
    }
}

async fn run_command(engine: &Engine, command: Command) -> Result<CommandResult, ProtocolError> {
    let job_command = |job_id: JobId| {
        if engine.job(job_id).is_none() {
            return Err(protocol_error(
                ErrorCode::UnknownJob,
                &format!("there is no job {}", job_id.0),
            ));
        }
        Ok(job_id)
    };
    let job = match command {
        Command::Enqueue { paths } => {
            let report = engine
                .enqueue(paths.into_iter().map(PathBuf::from).collect())
                .await
                .map_err(|error| protocol_error(ErrorCode::CommandFailed, &error.to_string()))?;
            return Ok(CommandResult::Enqueued { report });
        }
        Command::Pause { job_id } => engine.pause(job_command(job_id)?).await,
        Command::Resume { job_id } => engine.resume(job_command(job_id)?).await,
        Command::Cancel { job_id } => engine.cancel(job_command(job_id)?).await,
        Command::Retry { job_id } => engine.retry(job_command(job_id)?).await,
    };
    job.map(|job| CommandResult::Job { job })
        .map_err(|error| protocol_error(ErrorCode::CommandFailed, &error.to_string()))
}

fn protocol_error(code: ErrorCode, message: &str) -> ProtocolError {
    ProtocolError {
        code,
        message: message.to_owned(),
    }
}

fn error_message(shared: &Shared, error: ProtocolError) -> ServerMessage {
    ServerMessage::Error {
        seq: shared.hub.current_seq(),
        error,
    }
}

async fn send(sink: &mut Sink, shared: &Shared, message: &ServerMessage) -> Result<(), WsError> {
    send_text(sink, shared, serde_json::to_string(message)?).await
}

async fn send_text(sink: &mut Sink, shared: &Shared, text: String) -> Result<(), WsError> {
    tokio::time::timeout(shared.config.write_timeout, sink.send(Message::text(text)))
        .await
        .map_err(|_| WsError::Timeout("a client to read its messages"))??;
    Ok(())
}

async fn close(sink: &mut Sink, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}
