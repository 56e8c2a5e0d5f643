//! The messages exchanged on the local WebSocket, as JSON text frames tagged by `type`.
//!
//! The TypeScript types the UI uses are generated from these definitions
//! (`ui/src/lib/generated/protocol.ts`); a test fails when that file is stale.

use ferry_core::{EnqueueReport, JobId, JobProgress, JobView, QueueTotals, Snapshot};
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
    },
    /// Latest progress of one job (later values replace earlier ones).
    Progress {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// The job's figures within its current stage.
        progress: JobProgress,
        /// The whole queue's figures at the same moment.
        totals: QueueTotals,
    },
    /// A job was created or changed state.
    Job {
        /// Sequence number of this message.
        #[ts(type = "number")]
        seq: u64,
        /// The job as it is now.
        job: JobView,
        /// The whole queue's figures at the same moment.
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
}

impl ServerMessage {
    /// The message's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Welcome { seq, .. }
            | Self::Progress { seq, .. }
            | Self::Job { seq, .. }
            | Self::Reply { seq, .. }
            | Self::Error { seq, .. } => *seq,
        }
    }
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Asks the engine to do something; answered by a `reply` with the same `id`.
    Command {
        /// Chosen by the client, unique per command, echoed in the reply.
        id: String,
        /// What to do.
        command: Command,
    },
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
    /// The message was not valid JSON or not a known message shape.
    InvalidData,
    /// The message was larger than the server accepts.
    MessageTooLarge,
    /// The command named a job that does not exist.
    UnknownJob,
    /// The command was understood but the engine could not carry it out.
    CommandFailed,
}

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

/// Every type the UI needs, in dependency order, as TypeScript declarations.
pub fn typescript_declarations() -> String {
    use ferry_core::{EngineEvent, JobStatus, SkippedPath};
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
        decl::<CommandResult>(),
        decl::<Command>(),
        decl::<ClientMessage>(),
        decl::<ServerMessage>(),
        decl::<ConnectionInfo>(),
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
