//! The messages exchanged on the local WebSocket, as JSON text frames tagged by `type`.
//!
//! The TypeScript types the UI uses are generated from these definitions
//! (`ui/src/lib/generated/protocol.ts`); a test fails when that file is stale.

use ferry_core::{EnqueueReport, JobId, JobProgress, JobStatus, JobView, QueueTotals, Snapshot};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The subprotocol every client must offer; the server echoes it back.
pub const PROTOCOL: &str = "ferry.v1";

/// Prefix of the subprotocol that carries the launch token (`ferry.token.<base64url>`).
/// Browsers cannot set headers on a WebSocket, so the token travels here, never in the URL.
pub const TOKEN_PROTOCOL_PREFIX: &str = "ferry.token.";

/// A message from the server. Every one carries `seq`, increasing by one per message
/// sent on the server, within `epoch` (one per server start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every connection: who the server is and the full state.
    Welcome {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// Identifies this server run; sequence numbers restart with a new epoch.
        epoch: String,
        /// The protocol spoken, `ferry.v1`.
        protocol: String,
        /// The application's version.
        server_version: String,
        /// Every job and the queue totals at the moment of connection.
        snapshot: Snapshot,
        /// The limits and timings this server applies to every connection.
        limits: Limits,
    },
    /// Answers a `hello` that named a `last_seq` this server can still replay: the
    /// messages the client missed follow, with their original `seq`, then live ones.
    /// The client keeps its state; nothing is replaced.
    Resume {
        /// The server's latest sequence number: the client is up to date once it has
        /// applied the replayed messages, which all carry a `seq` up to this one.
        #[ts(type = "number")]
        seq: u64,
        /// The epoch, the same as the client's.
        epoch: String,
        /// The `last_seq` the client sent; replayed messages start after it.
        #[ts(type = "number")]
        from_seq: u64,
        /// The limits and timings this server applies to every connection.
        limits: Limits,
    },
    /// The latest figures of one or more jobs (latest value wins): each job's figures
    /// reach a client at most `progress_per_sec` times a second, and a job that reports
    /// no faster than that is never held back. Figures due at the same moment travel
    /// together, and a client that is behind gets the progress messages waiting for it
    /// as one (the newest figure of each job, the last one's `seq` and totals), so what
    /// it reads does not grow with the number of jobs.
    Progress {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// One entry per job, in job order: its figures within its current stage. A
        /// figure is never older than a `job` message sent before it for the same job.
        progress: Vec<JobProgress>,
        /// The whole queue's figures at the same moment.
        totals: QueueTotals,
    },
    /// A job was created, or changed in a way a `change` message cannot say (a field
    /// cleared, a job the stream has not shown before): the whole job.
    Job {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// The job as it is now.
        job: JobView,
        /// The last figures of the stage this change ended (its 100 %), when they had
        /// not gone out on their own: a stage's end travels with the change that follows
        /// it, one message instead of two.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        ended: Option<JobProgress>,
    },
    /// A job the client already holds changed state (a new stage, done, failed, paused,
    /// and so on): its new status and figures, and those of its other fields that
    /// changed. About a third of the size of a `job` message, which matters when many
    /// clients watch many short jobs.
    Change {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// What changed in the job.
        job: JobChange,
        /// The last figures of the stage this change ended, as in a `job` message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        ended: Option<JobProgress>,
    },
    /// The whole queue's figures, when `job` and `change` messages changed them and no
    /// `progress` message has carried them since: at most one per update (see
    /// `updates_per_sec`), after the job messages it follows.
    Totals {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// The whole queue's figures.
        totals: QueueTotals,
    },
    /// The answer to one command, matched by its `id`.
    Reply {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// The `id` of the command answered.
        id: String,
        /// What the command did, when it succeeded.
        result: Option<CommandResult>,
        /// Why it failed, when it did.
        error: Option<ProtocolError>,
    },
    /// Something the client sent could not be used, or the server must tell the client
    /// of a problem not tied to one command.
    Error {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// What went wrong.
        error: ProtocolError,
    },
    /// The server's counters, in answer to a `metrics` request.
    Metrics {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// The counters.
        metrics: MetricsSnapshot,
    },
}

impl ServerMessage {
    /// The message's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Welcome { seq, .. }
            | Self::Resume { seq, .. }
            | Self::Progress { seq, .. }
            | Self::Job { seq, .. }
            | Self::Change { seq, .. }
            | Self::Totals { seq, .. }
            | Self::Reply { seq, .. }
            | Self::Error { seq, .. }
            | Self::Metrics { seq, .. } => *seq,
        }
    }

    /// The job a `job` or `change` message is about, and its new status.
    pub fn job_status(&self) -> Option<(JobId, JobStatus)> {
        match self {
            Self::Job { job, .. } => Some((job.id, job.status)),
            Self::Change { job, .. } => Some((job.id, job.status)),
            _ => None,
        }
    }

    /// The last figures of the stage a `job` or `change` message ended, if they came
    /// with it.
    pub fn ended(&self) -> Option<&JobProgress> {
        match self {
            Self::Job { ended, .. } | Self::Change { ended, .. } => ended.as_ref(),
            _ => None,
        }
    }

    /// True for the messages a client must acknowledge with an `ack` naming their
    /// `seq`: a job reaching `done`, `failed` or `cancelled`. Unacknowledged ones are
    /// sent again, with the same `seq`, until they are acknowledged.
    pub fn needs_ack(&self) -> bool {
        self.job_status()
            .is_some_and(|(_, status)| status.is_terminal())
    }
}

/// The part of a job that a `change` message carries: the new status and figures, and
/// the other fields that changed. A field left out is unchanged; the path, name, size
/// and creation time never change, and a field that is cleared (a retried job's
/// `error`, say) goes out as a whole `job` message instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct JobChange {
    /// The job that changed.
    pub id: JobId,
    /// Its new status.
    pub status: JobStatus,
    /// Its figures in that status.
    pub progress: JobProgress,
    /// Its detected media type, when that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mime: Option<String>,
    /// Its content hash, when that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub hash: Option<String>,
    /// Where the destination keeps it, when that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub remote: Option<String>,
    /// Why it failed, when that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<String>,
    /// Its note, when that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
}

impl JobChange {
    /// What takes `before` to `after`, or `None` when a `change` cannot say it (another
    /// job, a different path, name, size or creation time, or a field cleared).
    pub fn between(before: &JobView, after: &JobView) -> Option<Self> {
        let fixed_same = before.id == after.id
            && before.path == after.path
            && before.name == after.name
            && before.size == after.size
            && before.created_at_ms == after.created_at_ms;
        if !fixed_same {
            return None;
        }
        let changed = |old: &Option<String>, new: &Option<String>| -> Option<Option<String>> {
            match (old, new) {
                (Some(_), None) => None,
                _ if old == new => Some(None),
                _ => Some(new.clone()),
            }
        };
        Some(Self {
            id: after.id,
            status: after.status,
            progress: after.progress.clone(),
            mime: changed(&before.mime, &after.mime)?,
            hash: changed(&before.hash, &after.hash)?,
            remote: changed(&before.remote, &after.remote)?,
            error: changed(&before.error, &after.error)?,
            note: changed(&before.note, &after.note)?,
        })
    }

    /// Applies the change to its job.
    pub fn apply_to(&self, job: &mut JobView) {
        job.status = self.status;
        job.progress.clone_from(&self.progress);
        for (field, value) in [
            (&mut job.mime, &self.mime),
            (&mut job.hash, &self.hash),
            (&mut job.remote, &self.remote),
            (&mut job.error, &self.error),
            (&mut job.note, &self.note),
        ] {
            if value.is_some() {
                field.clone_from(value);
            }
        }
    }
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message on every connection, due within the hello deadline. A client
    /// that was connected before names the last `seq` it applied and its `epoch`, so
    /// the server can replay what it missed instead of sending a whole snapshot.
    Hello {
        /// The epoch of the state the client holds, if any.
        #[serde(default)]
        #[ts(optional)]
        epoch: Option<String>,
        /// The `seq` of the last message the client applied, if any.
        #[serde(default)]
        #[ts(optional, type = "number")]
        last_seq: Option<u64>,
    },
    /// Asks the engine to do something; answered by a `reply` with the same `id`.
    /// Sending the same `id` again (after a reconnect, say) does not repeat the effect:
    /// the server answers with the reply of the first.
    Command {
        /// Chosen by the client, unique per command across clients (use a random
        /// prefix), echoed in the reply; 1 to 128 characters.
        id: String,
        /// What to do.
        command: Command,
    },
    /// Acknowledges the message with this `seq` (a job that reached `done`, `failed`
    /// or `cancelled`), so the server stops sending it again.
    Ack {
        /// The acknowledged message's `seq`.
        #[ts(type = "number")]
        seq: u64,
    },
    /// Acknowledges several such messages in one: a client that saw many jobs end
    /// together sends one message, not one per job, which would count against its rate
    /// limit (200 small files ending within a second would get it closed with 4429).
    Acks {
        /// The acknowledged messages' `seq`s.
        #[ts(type = "Array<number>")]
        seqs: Vec<u64>,
    },
    /// Asks for the server's counters; answered by a `metrics` message.
    Metrics,
    /// Keeps an idle connection visibly alive from the client's side.
    Ping,
}

/// The commands a client can give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Command {
    /// Upload these files and folders (folders recursively).
    Enqueue {
        /// Absolute paths on this machine.
        paths: Vec<String>,
    },
    /// Stop a job for now; it can be resumed.
    Pause {
        /// The job.
        job_id: JobId,
    },
    /// Put a paused job back in the queue.
    Resume {
        /// The job.
        job_id: JobId,
    },
    /// Stop a job for good, leaving nothing at the destination.
    Cancel {
        /// The job.
        job_id: JobId,
    },
    /// Run a failed or cancelled job again.
    Retry {
        /// The job.
        job_id: JobId,
    },
}

/// What a successful command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
// One reply per command: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum CommandResult {
    /// The jobs an `enqueue` created and the paths it skipped.
    Enqueued {
        /// The report.
        report: EnqueueReport,
    },
    /// The job a `pause`, `resume`, `cancel` or `retry` acted on, as it is now.
    Job {
        /// The job.
        job: JobView,
    },
}

/// Why a message or a command failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ProtocolError {
    /// A stable code clients can branch on.
    pub code: ErrorCode,
    /// Words meant for a person: what was wrong and what to do.
    pub message: String,
}

/// The stable error codes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message was not valid JSON, not a known message type, or a field had the
    /// wrong type; the message says which.
    InvalidData,
    /// The message was larger than the server accepts.
    MessageTooLarge,
    /// The first message on a connection must be a `hello`.
    HelloRequired,
    /// A command reused the `id` of an earlier, different command.
    IdReused,
    /// The command named a job that does not exist.
    UnknownJob,
    /// The command was understood but the engine could not carry it out.
    CommandFailed,
}

/// The limits and timings one server applies, sent in `welcome` and `resume` so a
/// client can pace itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Limits {
    /// Largest message a client may send, in bytes (larger ones close with 1009).
    pub max_message_bytes: u32,
    /// Inbound messages per second a client may keep up (more close with 4429).
    pub max_messages_per_sec: u32,
    /// Inbound messages a client may send in one burst above that rate.
    pub message_burst: u32,
    /// Figures of one job this client receives per second at most (a stage's last
    /// figure and every stage change always arrive).
    pub progress_per_sec: u32,
    /// Writes of queued messages this client receives per second at most: stage
    /// changes, stage ends and terminal events that come sooner after the previous
    /// write wait for the next one, and all go together. A figure of a running stage
    /// never waits, and takes whatever is waiting with it.
    pub updates_per_sec: u32,
    /// Milliseconds before an unacknowledged terminal event is sent again.
    pub ack_timeout_ms: u32,
    /// Milliseconds between the server's pings; two unanswered ones close the socket.
    pub ping_interval_ms: u32,
    /// Invalid messages in a row that close the connection with 1008.
    pub max_invalid_in_a_row: u32,
}

/// The server's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MetricsSnapshot {
    /// Connections open now (past the handshake).
    #[ts(type = "number")]
    pub connections_open: u64,
    /// Connections accepted since the start.
    #[ts(type = "number")]
    pub connections_total: u64,
    /// Upgrade requests refused (token, Origin, Host, connection limit).
    #[ts(type = "number")]
    pub refused: u64,
    /// Tasks the server runs now: connections and commands in progress.
    #[ts(type = "number")]
    pub tasks: u64,
    /// Messages received from clients.
    #[ts(type = "number")]
    pub messages_in: u64,
    /// Messages sent to clients.
    #[ts(type = "number")]
    pub messages_out: u64,
    /// Bytes of message payload received.
    #[ts(type = "number")]
    pub bytes_in: u64,
    /// Bytes of message payload sent.
    #[ts(type = "number")]
    pub bytes_out: u64,
    /// Progress figures replaced by a newer one of the same job before they were sent.
    #[ts(type = "number")]
    pub coalesced: u64,
    /// Times a client fell further behind than its queue holds.
    #[ts(type = "number")]
    pub lagged: u64,
    /// Fresh snapshots sent to clients that lagged.
    #[ts(type = "number")]
    pub resynced: u64,
    /// Terminal events sent again because they were not acknowledged in time.
    #[ts(type = "number")]
    pub resent: u64,
    /// Connections closed because a write did not finish in time or a ping went
    /// unanswered.
    #[ts(type = "number")]
    pub closed_slow: u64,
    /// Connections closed for breaking a limit (size, rate, invalid data, deadlines).
    #[ts(type = "number")]
    pub closed_limit: u64,
}

/// Close codes the server uses, besides the standard 1000 (normal) and 1001 (going
/// away).
pub mod close_code {
    /// Repeated invalid messages (policy violation).
    pub const INVALID_DATA: u16 = 1008;
    /// A message larger than the limit.
    pub const TOO_LARGE: u16 = 1009;
    /// Too many connections; try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A deadline passed: no `hello` in time, or pings went unanswered.
    pub const TIMEOUT: u16 = 4408;
    /// Messages arrived faster than the rate limit.
    pub const RATE_LIMITED: u16 = 4429;
}

/// Reads one text frame from a client. Never panics, whatever the input; an error
/// says what was wrong in words meant for the client's developer.
pub fn decode_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    let message: ClientMessage = serde_json::from_str(text).map_err(|error| ProtocolError {
        code: ErrorCode::InvalidData,
        message: format!("the message is not a valid ferry.v1 message: {error}"),
    })?;
    if let ClientMessage::Command { id, .. } = &message {
        if id.is_empty() || id.chars().count() > MAX_COMMAND_ID_CHARS {
            return Err(ProtocolError {
                code: ErrorCode::InvalidData,
                message: format!(
                    "the message is not a valid ferry.v1 message: a command id must be 1 to {MAX_COMMAND_ID_CHARS} characters"
                ),
            });
        }
    }
    Ok(message)
}

/// Longest command `id` accepted, in characters.
pub const MAX_COMMAND_ID_CHARS: usize = 128;

/// How a client reaches the server: given to the webview by a Tauri command and written
/// to the connection file for native clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ConnectionInfo {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    /// The launch token, base64url without padding, sent as `ferry.token.<token>`.
    pub token: String,
    /// The process serving the socket, so a client can tell a stale file from a live one.
    pub pid: u32,
}

/// What the app's About view shows, from the `app_info` Tauri command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AppInfo {
    /// The app's version (`0.1.0`).
    pub version: String,
    /// The licence it is distributed under, as an SPDX expression.
    pub licence: String,
    /// Where the job queue and resume points are kept.
    pub data_dir: String,
    /// Where the rolling log files are written.
    pub log_dir: String,
    /// Where uploads go: a folder or a tus server's URL.
    pub destination: String,
    /// Whether Ferry starts when the user logs in (off until the user turns it on).
    pub start_at_login: bool,
}

/// Every type the UI needs, in dependency order, as TypeScript declarations.
pub fn typescript_declarations() -> String {
    use ferry_core::destinations::{
        AuthKind, DestinationSettings, DestinationsView, StoredDestination, Target,
    };
    use ferry_core::{EngineEvent, JobStatus, SkippedPath};
    use ferry_sync::{FolderState, WatchedFolder, WatchedFolderView, WatchedFoldersView};
    let decls = [
        decl::<JobId>(),
        decl::<JobStatus>(),
        decl::<JobProgress>(),
        decl::<JobView>(),
        decl::<QueueTotals>(),
        decl::<Snapshot>(),
        decl::<SkippedPath>(),
        decl::<EnqueueReport>(),
        decl::<EngineEvent>(),
        decl::<ErrorCode>(),
        decl::<ProtocolError>(),
        decl::<Limits>(),
        decl::<MetricsSnapshot>(),
        decl::<CommandResult>(),
        decl::<Command>(),
        decl::<ClientMessage>(),
        decl::<JobChange>(),
        decl::<ServerMessage>(),
        decl::<ConnectionInfo>(),
        decl::<AppInfo>(),
        decl::<Target>(),
        decl::<AuthKind>(),
        decl::<DestinationSettings>(),
        decl::<StoredDestination>(),
        decl::<DestinationsView>(),
        decl::<WatchedFolder>(),
        decl::<FolderState>(),
        decl::<WatchedFolderView>(),
        decl::<WatchedFoldersView>(),
    ];
    let mut out = String::from(
        "// Generated from the Rust protocol types in src-tauri/crates/ferry-ws/src/protocol.rs\n\
         // and src-tauri/crates/ferry-core/src/model.rs. Do not edit: run\n\
         // `FERRY_UPDATE_GENERATED=1 cargo test -p ferry-ws --test protocol_typescript` instead.\n",
    );
    for d in decls {
        out.push('\n');
        out.push_str(&d);
        out.push('\n');
    }
    out
}

fn decl<T: TS>() -> String {
    let docs = T::docs().unwrap_or_default();
    format!("{docs}export {}", T::decl())
}
