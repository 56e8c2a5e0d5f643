//! A Rust client of the local WebSocket, used by the tests and native tools.
//!
//! [`Client::connect`] opens a connection and says hello; [`Client::next_event`] then
//! yields each server message once, keeps a [`ClientState`] up to date, acknowledges
//! terminal events, and drops repeats. [`Client::reconnect`] resumes where the client
//! left off: the server replays what it missed or sends a fresh snapshot.

use crate::error::WsError;
use crate::protocol::{
    ClientMessage, Command, CommandResult, ConnectionInfo, JobChange, ServerMessage, PROTOCOL,
    TOKEN_PROTOCOL_PREFIX,
};
use ferry_core::{JobId, JobProgress, JobStatus, JobView, QueueTotals, Snapshot};
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Headers and socket options a client connects with; the defaults are a native client's.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// The token to present; `None` presents none.
    pub token: Option<String>,
    /// The Origin header; native clients send none.
    pub origin: Option<String>,
    /// Overrides the Host header (to test DNS-rebinding defences).
    pub host: Option<String>,
    /// The kernel's receive buffer for the socket, if set (tests use a small one to
    /// build a backlog quickly).
    pub receive_buffer_size: Option<u32>,
}

/// What a client knows of the server's state: the result of applying every message
/// it received, in order, once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientState {
    /// The server run the state belongs to; `None` before the first welcome.
    pub epoch: Option<String>,
    /// The `seq` of the last message applied.
    pub last_seq: u64,
    /// Every job by id.
    pub jobs: BTreeMap<JobId, JobView>,
    /// The queue's figures.
    pub totals: QueueTotals,
}

impl ClientState {
    /// Applies one message; returns false when it was a repeat (its `seq` is not newer
    /// than the state) and changed nothing.
    pub fn apply(&mut self, message: &ServerMessage) -> bool {
        match message {
            ServerMessage::Welcome {
                seq,
                epoch,
                snapshot,
                ..
            } => {
                self.epoch = Some(epoch.clone());
                self.last_seq = *seq;
                self.jobs = snapshot.jobs.iter().map(|j| (j.id, j.clone())).collect();
                self.totals = snapshot.totals.clone();
                true
            }
            ServerMessage::Progress {
                seq,
                progress,
                totals,
            } => {
                if self.epoch.is_none() || *seq <= self.last_seq {
                    return false;
                }
                for figure in progress {
                    if let Some(job) = self.jobs.get_mut(&figure.job_id) {
                        apply_figure(job, figure);
                    }
                }
                self.last_seq = *seq;
                self.totals.clone_from(totals);
                true
            }
            ServerMessage::Job { seq, job, .. } => {
                if self.epoch.is_none() || *seq <= self.last_seq {
                    return false;
                }
                self.jobs.insert(job.id, job.clone());
                self.last_seq = *seq;
                true
            }
            ServerMessage::Change { seq, job, .. } => {
                if self.epoch.is_none() || *seq <= self.last_seq {
                    return false;
                }
                // The server sends a change only for a job the client holds.
                if let Some(view) = self.jobs.get_mut(&job.id) {
                    job.apply_to(view);
                }
                self.last_seq = *seq;
                true
            }
            ServerMessage::Totals { seq, totals } => {
                if self.epoch.is_none() || *seq <= self.last_seq {
                    return false;
                }
                self.last_seq = *seq;
                self.totals.clone_from(totals);
                true
            }
            ServerMessage::Resume { .. }
            | ServerMessage::Reply { .. }
            | ServerMessage::Error { .. }
            | ServerMessage::Metrics { .. } => true,
        }
    }

    /// The state as a snapshot (jobs oldest first), to compare with a server's.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            jobs: self.jobs.values().cloned().collect(),
            totals: self.totals.clone(),
        }
    }
}

/// Applies one figure of a `progress` batch to its job: latest value wins, and a figure
/// older than the job's stage is left out. The server never sends one (a job message
/// always goes out after the figures it replaces), so this only guards the order of a
/// job's stages: a figure never takes a job back to a stage it has left.
pub fn apply_figure(job: &mut JobView, figure: &JobProgress) {
    if stage_rank(figure.status) >= stage_rank(job.status) {
        job.progress = figure.clone();
    }
}

/// Where a status falls in a run: `queued`, `hashing`, `parsing`, `uploading`,
/// `verifying`, then the resting states (a run's figures never follow those; a retry or
/// resume starts again from `queued` with a job message).
fn stage_rank(status: JobStatus) -> u8 {
    match status {
        JobStatus::Queued => 0,
        JobStatus::Hashing => 1,
        JobStatus::Parsing => 2,
        JobStatus::Uploading => 3,
        JobStatus::Verifying => 4,
        JobStatus::Done | JobStatus::Failed | JobStatus::Paused | JobStatus::Cancelled => 5,
    }
}

/// Longest a read terminal event waits to be acknowledged, so that those read close
/// together share one write; far below the server's resend timeout (10 s by default).
const ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Terminal events remembered to drop repeats; older ones are forgotten.
const SEEN_TERMINALS: usize = 16_384;

/// One open connection to the server.
pub struct Client {
    socket: WebSocketStream<TcpStream>,
    state: ClientState,
    seen_terminals: BTreeSet<u64>,
    backlog: VecDeque<ServerMessage>,
    auto_ack: bool,
    /// Terminal events applied but not yet acknowledged: they go out together, at most
    /// [`ACK_DELAY`] after the first of them was read (or before anything else the
    /// client sends), so a run of many short jobs costs a few writes to the socket
    /// rather than one per job.
    unsent_acks: Vec<u64>,
    /// When the acknowledgements waiting must go out.
    acks_due: Option<tokio::time::Instant>,
    id_prefix: String,
    next_id: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("epoch", &self.state.epoch)
            .field("last_seq", &self.state.last_seq)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects as a native client with the token from `info` and says hello (with no
    /// state to resume).
    pub async fn connect(info: &ConnectionInfo) -> Result<Self, WsError> {
        let mut client = Self::connect_with(&info.url, &native(info)).await?;
        client.hello(None).await?;
        Ok(client)
    }

    /// Opens a connection with exactly the given handshake and sends nothing: the
    /// caller must send a hello (see [`Client::hello`]) within the server's deadline.
    pub async fn connect_with(url: &str, handshake: &Handshake) -> Result<Self, WsError> {
        let socket = open(url, handshake).await?;
        Ok(Self {
            socket,
            state: ClientState::default(),
            seen_terminals: BTreeSet::new(),
            backlog: VecDeque::new(),
            auto_ack: true,
            unsent_acks: Vec::new(),
            acks_due: None,
            id_prefix: format!("{:016x}", rand::random::<u64>()),
            next_id: 0,
        })
    }

    /// Sends the hello; with `resume` (epoch and last applied `seq`), the server
    /// replays what was missed when it can.
    pub async fn hello(&mut self, resume: Option<(String, u64)>) -> Result<(), WsError> {
        let (epoch, last_seq) = resume.map_or((None, None), |(e, s)| (Some(e), Some(s)));
        self.send(&ClientMessage::Hello { epoch, last_seq }).await
    }

    /// Opens a new connection to `info` and resumes from this client's state: the
    /// missed messages, or a fresh snapshot, come through [`Client::next_event`].
    pub async fn reconnect(&mut self, info: &ConnectionInfo) -> Result<(), WsError> {
        self.socket = open(&info.url, &native(info)).await?;
        self.backlog.clear();
        // The old connection's unacknowledged events come again on the new one and
        // are acknowledged there.
        self.unsent_acks.clear();
        self.acks_due = None;
        let resume = self.cursor();
        self.hello(resume).await
    }

    /// The epoch and last applied `seq`, once the client has a state.
    pub fn cursor(&self) -> Option<(String, u64)> {
        self.state
            .epoch
            .clone()
            .map(|epoch| (epoch, self.state.last_seq))
    }

    /// What the client knows of the server's state.
    pub fn state(&self) -> &ClientState {
        &self.state
    }

    /// Whether [`Client::next_event`] acknowledges terminal events (the default); tests
    /// turn it off to see them sent again.
    pub fn set_auto_ack(&mut self, on: bool) {
        self.auto_ack = on;
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), WsError> {
        self.send_raw(Message::text(serde_json::to_string(message)?))
            .await
    }

    /// Sends one frame as it is, valid or not (after the acknowledgements waiting, so
    /// the server sees them in the order the client read the events).
    pub async fn send_raw(&mut self, frame: Message) -> Result<(), WsError> {
        self.send_acks().await?;
        self.socket.send(frame).await?;
        Ok(())
    }

    /// Waits for the next server message as it arrives: no state, no dedupe. While it
    /// waits, it sends the acknowledgements of what it has read when they fall due.
    pub async fn next_message(&mut self) -> Result<ServerMessage, WsError> {
        loop {
            let frame = match self.acks_due {
                None => self.socket.next().await,
                Some(due) => {
                    if let Ok(frame) = tokio::time::timeout_at(due, self.socket.next()).await {
                        frame
                    } else {
                        self.send_acks().await?;
                        continue;
                    }
                }
            };
            match frame {
                None => return Err(WsError::Closed(None)),
                Some(Ok(Message::Text(text))) => return decode_server_message(text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    return Err(WsError::Closed(
                        frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)),
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Waits for the next new server message: applies it to the state, acknowledges
    /// it if it is a terminal event, and skips messages already applied (a replayed or
    /// resent `seq`), so each event is seen once.
    pub async fn next_event(&mut self) -> Result<ServerMessage, WsError> {
        if let Some(message) = self.backlog.pop_front() {
            return Ok(message);
        }
        loop {
            let message = self.next_message().await?;
            if let Some(message) = self.take(message) {
                return Ok(message);
            }
        }
    }

    /// Sends the acknowledgements waiting, in one message.
    async fn send_acks(&mut self) -> Result<(), WsError> {
        self.acks_due = None;
        let message = match std::mem::take(&mut self.unsent_acks).as_slice() {
            [] => return Ok(()),
            [seq] => ClientMessage::Ack { seq: *seq },
            seqs => ClientMessage::Acks {
                seqs: seqs.to_vec(),
            },
        };
        let text = serde_json::to_string(&message)?;
        self.socket.send(Message::text(text)).await?;
        Ok(())
    }

    fn take(&mut self, message: ServerMessage) -> Option<ServerMessage> {
        if message.needs_ack() {
            let seq = message.seq();
            if self.auto_ack {
                self.unsent_acks.push(seq);
                self.acks_due
                    .get_or_insert_with(|| tokio::time::Instant::now() + ACK_DELAY);
            }
            let fresh = self.seen_terminals.insert(seq);
            if self.seen_terminals.len() > SEEN_TERMINALS {
                self.seen_terminals.pop_first();
            }
            // A terminal event resent after a snapshot is new to this client even
            // though the snapshot already holds its state.
            self.state.apply(&message);
            return fresh.then_some(message);
        }
        self.state.apply(&message).then_some(message)
    }

    /// Sends a command with a fresh id and waits for its reply. Other messages that
    /// arrive meanwhile are applied and kept for [`Client::next_event`].
    pub async fn command(&mut self, command: Command) -> Result<CommandResult, WsError> {
        self.next_id += 1;
        let id = format!("{}-{}", self.id_prefix, self.next_id);
        self.command_with_id(&id, command).await
    }

    /// Sends a command with the given id (resend an id to retry a command safely: it
    /// has its effect once) and waits for its reply.
    pub async fn command_with_id(
        &mut self,
        id: &str,
        command: Command,
    ) -> Result<CommandResult, WsError> {
        self.send(&ClientMessage::Command {
            id: id.to_owned(),
            command,
        })
        .await?;
        loop {
            let message = self.next_message().await?;
            match message {
                ServerMessage::Reply {
                    id: answered,
                    result,
                    error,
                    ..
                } if answered == id => {
                    return match (result, error) {
                        (_, Some(error)) => Err(WsError::Command {
                            code: error.code,
                            message: error.message,
                        }),
                        (Some(result), None) => Ok(result),
                        (None, None) => Err(WsError::Closed(Some(
                            "the server answered without a result".to_owned(),
                        ))),
                    };
                }
                other => {
                    if let Some(kept) = self.take(other) {
                        self.backlog.push_back(kept);
                    }
                }
            }
        }
    }

    /// Closes the connection but keeps the client's state, to [`Client::reconnect`]
    /// later and resume where it left off.
    pub async fn disconnect(&mut self) -> Result<(), WsError> {
        self.send_acks().await?;
        self.socket.close(None).await?;
        while let Some(frame) = self.socket.next().await {
            if frame.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Closes the connection cleanly: a close frame, then the server's answer to it. An
    /// error says the server dropped the connection without answering.
    pub async fn close(mut self) -> Result<(), WsError> {
        self.send_acks().await?;
        self.socket.close(None).await?;
        while let Some(frame) = self.socket.next().await {
            match frame {
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Err(WsError::Closed(Some(
            "the server ended the connection without answering the close".to_owned(),
        )))
    }
}

/// A `progress` message as it is on the wire, read without the tagged enum: serde reads
/// an internally tagged enum by first copying the whole message into a generic tree, which
/// doubles the work for the messages that come most often.
#[derive(serde::Deserialize)]
struct ProgressWire {
    seq: u64,
    progress: Vec<JobProgress>,
    totals: QueueTotals,
}

/// A `job` message as it is on the wire (see [`ProgressWire`]).
#[derive(serde::Deserialize)]
struct JobWire {
    seq: u64,
    job: JobView,
    #[serde(default)]
    ended: Option<JobProgress>,
}

/// A `change` message as it is on the wire (see [`ProgressWire`]).
#[derive(serde::Deserialize)]
struct ChangeWire {
    seq: u64,
    job: JobChange,
    #[serde(default)]
    ended: Option<JobProgress>,
}

/// Reads one server message. The server always writes `type` first, so `progress`, `job`
/// and `change` messages are recognised by their opening and read directly; anything else, and
/// any message written differently, goes through the tagged enum.
fn decode_server_message(text: &str) -> Result<ServerMessage, WsError> {
    if text.starts_with(r#"{"type":"progress","#) {
        if let Ok(wire) = serde_json::from_str::<ProgressWire>(text) {
            return Ok(ServerMessage::Progress {
                seq: wire.seq,
                progress: wire.progress,
                totals: wire.totals,
            });
        }
    } else if text.starts_with(r#"{"type":"job","#) {
        if let Ok(wire) = serde_json::from_str::<JobWire>(text) {
            return Ok(ServerMessage::Job {
                seq: wire.seq,
                job: wire.job,
                ended: wire.ended,
            });
        }
    } else if text.starts_with(r#"{"type":"change","#) {
        if let Ok(wire) = serde_json::from_str::<ChangeWire>(text) {
            return Ok(ServerMessage::Change {
                seq: wire.seq,
                job: wire.job,
                ended: wire.ended,
            });
        }
    }
    Ok(serde_json::from_str(text)?)
}

fn native(info: &ConnectionInfo) -> Handshake {
    Handshake {
        token: Some(info.token.clone()),
        ..Handshake::default()
    }
}

/// True for the host names a plain `ws://` URL may name.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn open(url: &str, handshake: &Handshake) -> Result<WebSocketStream<TcpStream>, WsError> {
    let mut request = url.into_client_request()?;
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default().to_owned();
    if uri.scheme_str() != Some("ws") || !is_loopback(&host) {
        return Err(WsError::NotLoopback(url.to_owned()));
    }
    let port = uri.port_u16().unwrap_or(80);
    let mut protocols = PROTOCOL.to_owned();
    if let Some(token) = &handshake.token {
        protocols = format!("{protocols}, {TOKEN_PROTOCOL_PREFIX}{token}");
    }
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", header_value(&protocols)?);
    if let Some(origin) = &handshake.origin {
        headers.insert("origin", header_value(origin)?);
    }
    if let Some(host) = &handshake.host {
        headers.insert("host", header_value(host)?);
    }
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = if connect_host.eq_ignore_ascii_case("localhost") {
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port))
    } else {
        std::net::SocketAddr::new(
            connect_host
                .parse()
                .map_err(|_| WsError::NotLoopback(url.to_owned()))?,
            port,
        )
    };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| WsError::Connection(e.into()))?;
    if let Some(size) = handshake.receive_buffer_size {
        socket
            .set_recv_buffer_size(size)
            .map_err(|e| WsError::Connection(e.into()))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| WsError::Connection(e.into()))?;
    let _ = stream.set_nodelay(true);
    match tokio_tungstenite::client_async_with_config(request, stream, Some(socket_config())).await
    {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(WsError::Refused {
            status: response.status().as_u16(),
            reason: response
                .body()
                .as_ref()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .unwrap_or_default(),
        }),
        Err(error) => Err(error.into()),
    }
}

/// The client's socket settings. Frames are buffered until a flush (every send flushes),
/// so the acknowledgements fed one by one in [`Client::send_acks`] reach the server in
/// one write: with no write buffer, each would be a write of its own, and each write
/// costs the server a wake-up and a read.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
}

fn header_value(value: &str) -> Result<HeaderValue, WsError> {
    HeaderValue::from_str(value).map_err(|e| {
        WsError::Connection(tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acknowledgements_fed_together_reach_the_socket_in_one_write_at_the_flush() {
        use futures_util::FutureExt as _;
        use tokio::io::AsyncReadExt as _;
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        let mut socket = WebSocketStream::from_raw_socket(
            near,
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            Some(socket_config()),
        )
        .await;
        for seq in 1..=3 {
            let ack = serde_json::to_string(&ClientMessage::Ack { seq }).unwrap();
            socket.feed(Message::text(ack)).await.unwrap();
        }
        let mut buffer = vec![0; 4096];
        assert!(
            far.read(&mut buffer).now_or_never().is_none(),
            "an acknowledgement was written before the flush"
        );
        socket.flush().await.unwrap();
        let read = far.read(&mut buffer).await.unwrap();
        // Three masked frames of a 2-byte header, a 4-byte mask and the JSON each.
        let frames: usize = (1..=3)
            .map(|seq| {
                6 + serde_json::to_string(&ClientMessage::Ack { seq })
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(read, frames, "the three frames did not go out together");
    }

    #[test]
    fn progress_job_and_change_messages_read_the_same_through_the_fast_path_as_through_the_enum() {
        let figure = |id: i64| JobProgress {
            job_id: JobId(id),
            status: JobStatus::Uploading,
            current: 5,
            total: 10,
            speed: 1.5,
            eta_secs: Some(3.0),
            sent: Some(7),
        };
        let message = ServerMessage::Progress {
            seq: 42,
            progress: vec![figure(1), figure(2)],
            totals: QueueTotals::default(),
        };
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.starts_with(r#"{"type":"progress","#));
        assert_eq!(decode_server_message(&text).unwrap(), message);
        let job = ServerMessage::Job {
            seq: 43,
            job: JobView {
                id: JobId(1),
                path: "/a/b.txt".into(),
                name: "b.txt".into(),
                size: 10,
                status: JobStatus::Done,
                progress: figure(1),
                mime: None,
                hash: None,
                remote: None,
                error: None,
                note: None,
                created_at_ms: 1,
            },
            ended: Some(figure(1)),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(decode_server_message(&text).unwrap(), job);
        let change = ServerMessage::Change {
            seq: 44,
            job: JobChange {
                id: JobId(1),
                status: JobStatus::Verifying,
                progress: figure(1),
                mime: None,
                hash: Some("ab12".into()),
                remote: Some("/out/b.txt".into()),
                error: None,
                note: None,
            },
            ended: Some(figure(1)),
        };
        let text = serde_json::to_string(&change).unwrap();
        assert!(text.starts_with(r#"{"type":"change","#));
        assert_eq!(decode_server_message(&text).unwrap(), change);
        // Written another way (fields in another order), it still reads.
        let reordered = r#"{"seq":42,"type":"progress","progress":[],"totals":{"jobs":0,"done":0,"failed":0,"active":0,"queued":0,"paused":0,"cancelled":0,"bytes_total":0,"bytes_done":0,"speed":0.0,"eta_secs":null}}"#;
        assert!(matches!(
            decode_server_message(reordered).unwrap(),
            ServerMessage::Progress { seq: 42, .. }
        ));
    }
}
