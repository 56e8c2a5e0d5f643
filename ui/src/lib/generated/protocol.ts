// Generated from the Rust protocol types in src-tauri/crates/ferry-ws/src/protocol.rs
// and src-tauri/crates/ferry-core/src/model.rs. Do not edit: run
// `FERRY_UPDATE_GENERATED=1 cargo test -p ferry-ws --test protocol_typescript` instead.

/**
 * Identifies one job (one file on its way to one destination) for its whole life,
 * across restarts: it is the job's row id in the queue database.
 */
export type JobId = number;

/**
 * Where a job stands. The active stages run in this order:
 * `hashing -> parsing -> uploading -> verifying -> done`; a job may instead end
 * `failed` or `cancelled`, or rest `paused` until it is resumed.
 */
export type JobStatus = "queued" | "hashing" | "parsing" | "uploading" | "verifying" | "done" | "failed" | "paused" | "cancelled";

/**
 * Live progress of one job within its current stage.
 */
export type JobProgress = { 
/**
 * The job this progress belongs to.
 */
job_id: JobId, 
/**
 * The stage the figures below describe.
 */
status: JobStatus, 
/**
 * Bytes processed so far in this stage (hashed, sniffed, sent or verified).
 */
current: number, 
/**
 * Bytes this stage will process in all: the file size for hashing, uploading and
 * verifying; for parsing, the leading bytes it inspects (at most a few KiB).
 */
total: number, 
/**
 * Smoothed throughput of this stage in bytes per second (an exponential moving
 * average, so the figure does not jump with every chunk).
 */
speed: number, 
/**
 * Seconds left in this stage at the smoothed speed; `None` before the speed is known.
 */
eta_secs: number | null, 
/**
 * While uploading to a remote: bytes handed to the network so far, which runs ahead
 * of `current` (the bytes the server has acknowledged). Absent in other stages and
 * for destinations that acknowledge every byte as it is written.
 */
sent?: number, };

/**
 * Everything the UI shows about one job.
 */
export type JobView = { 
/**
 * The job's id.
 */
id: JobId, 
/**
 * Absolute path of the source file.
 */
path: string, 
/**
 * The file name shown to the user.
 */
name: string, 
/**
 * Size of the source file in bytes when it was enqueued.
 */
size: number, 
/**
 * Where the job stands.
 */
status: JobStatus, 
/**
 * Progress within the current stage.
 */
progress: JobProgress, 
/**
 * MIME type sniffed from the file's first bytes, once parsing has run.
 */
mime: string | null, 
/**
 * BLAKE3 hash of the content (hex), once hashing has run.
 */
hash: string | null, 
/**
 * Where the file landed (a path or URL), once uploaded.
 */
remote: string | null, 
/**
 * Why the job failed, in words meant for the user.
 */
error: string | null, 
/**
 * What the job is going through beyond its stage, in words meant for the user: a
 * retry after a network error, an upload started over because the server lost it,
 * a smaller chunk size. Cleared when the job settles.
 */
note?: string, 
/**
 * When the job was created, in milliseconds since the Unix epoch.
 */
created_at_ms: number, };

/**
 * Figures for the whole queue, shown in the header.
 */
export type QueueTotals = { 
/**
 * Jobs in the queue, whatever their state.
 */
jobs: number, 
/**
 * Jobs that are done.
 */
done: number, 
/**
 * Jobs that failed.
 */
failed: number, 
/**
 * Jobs a worker is running right now.
 */
active: number, 
/**
 * Jobs waiting for a worker.
 */
queued: number, 
/**
 * Jobs paused by the user.
 */
paused: number, 
/**
 * Jobs cancelled by the user.
 */
cancelled: number, 
/**
 * Bytes of every job that is not cancelled.
 */
bytes_total: number, 
/**
 * Bytes uploaded so far over those jobs (done jobs count in full).
 */
bytes_done: number, 
/**
 * Sum of the smoothed upload speeds of the active jobs, bytes per second.
 */
speed: number, 
/**
 * Seconds until the queue is empty at that speed; `None` when idle or unknown.
 */
eta_secs: number | null, };

/**
 * The whole state at one moment: what a newly connected client starts from.
 */
export type Snapshot = { 
/**
 * Every job, oldest first.
 */
jobs: Array<JobView>, 
/**
 * Figures for the whole queue.
 */
totals: QueueTotals, };

/**
 * A path `enqueue` refused, and why.
 */
export type SkippedPath = { 
/**
 * The path as given or as found while walking a folder.
 */
path: string, 
/**
 * Why it was skipped, in words meant for the user.
 */
reason: string, };

/**
 * What became of one `enqueue` call.
 */
export type EnqueueReport = { 
/**
 * Jobs created, one per file, in the order the files were found.
 */
jobs: Array<JobId>, 
/**
 * Paths that were not enqueued, each with the reason.
 */
skipped: Array<SkippedPath>, };

/**
 * A change in the engine that clients must hear about. Progress is latest-value-wins
 * state; job updates carry the whole job so a client never has to merge fields.
 */
export type EngineEvent = { "kind": "progress", 
/**
 * The figures.
 */
progress: JobProgress, 
/**
 * The queue's figures at the same moment.
 */
totals: QueueTotals, } | { "kind": "job", 
/**
 * The job as it is now.
 */
job: JobView, 
/**
 * The queue's figures at the same moment.
 */
totals: QueueTotals, };

/**
 * The stable error codes of the protocol.
 */
export type ErrorCode = "invalid_data" | "message_too_large" | "hello_required" | "id_reused" | "unknown_job" | "command_failed";

/**
 * Why a message or a command failed.
 */
export type ProtocolError = { 
/**
 * A stable code clients can branch on.
 */
code: ErrorCode, 
/**
 * Words meant for a person: what was wrong and what to do.
 */
message: string, };

/**
 * The limits and timings one server applies, sent in `welcome` and `resume` so a
 * client can pace itself.
 */
export type Limits = { 
/**
 * Largest message a client may send, in bytes (larger ones close with 1009).
 */
max_message_bytes: number, 
/**
 * Inbound messages per second a client may keep up (more close with 4429).
 */
max_messages_per_sec: number, 
/**
 * Inbound messages a client may send in one burst above that rate.
 */
message_burst: number, 
/**
 * Figures of one job this client receives per second at most (a stage's last
 * figure and every stage change always arrive).
 */
progress_per_sec: number, 
/**
 * Writes of queued messages this client receives per second at most: stage
 * changes, stage ends and terminal events that come sooner after the previous
 * write wait for the next one, and all go together. A figure of a running stage
 * never waits, and takes whatever is waiting with it.
 */
updates_per_sec: number, 
/**
 * Milliseconds before an unacknowledged terminal event is sent again.
 */
ack_timeout_ms: number, 
/**
 * Milliseconds between the server's pings; two unanswered ones close the socket.
 */
ping_interval_ms: number, 
/**
 * Invalid messages in a row that close the connection with 1008.
 */
max_invalid_in_a_row: number, };

/**
 * The server's counters since it started.
 */
export type MetricsSnapshot = { 
/**
 * Connections open now (past the handshake).
 */
connections_open: number, 
/**
 * Connections accepted since the start.
 */
connections_total: number, 
/**
 * Upgrade requests refused (token, Origin, Host, connection limit).
 */
refused: number, 
/**
 * Tasks the server runs now: connections and commands in progress.
 */
tasks: number, 
/**
 * Messages received from clients.
 */
messages_in: number, 
/**
 * Messages sent to clients.
 */
messages_out: number, 
/**
 * Bytes of message payload received.
 */
bytes_in: number, 
/**
 * Bytes of message payload sent.
 */
bytes_out: number, 
/**
 * Progress figures replaced by a newer one of the same job before they were sent.
 */
coalesced: number, 
/**
 * Times a client fell further behind than its queue holds.
 */
lagged: number, 
/**
 * Fresh snapshots sent to clients that lagged.
 */
resynced: number, 
/**
 * Terminal events sent again because they were not acknowledged in time.
 */
resent: number, 
/**
 * Connections closed because a write did not finish in time or a ping went
 * unanswered.
 */
closed_slow: number, 
/**
 * Connections closed for breaking a limit (size, rate, invalid data, deadlines).
 */
closed_limit: number, };

/**
 * What a successful command did.
 */
export type CommandResult = { "kind": "enqueued", 
/**
 * The report.
 */
report: EnqueueReport, } | { "kind": "job", 
/**
 * The job.
 */
job: JobView, };

/**
 * The commands a client can give.
 */
export type Command = { "action": "enqueue", 
/**
 * Absolute paths on this machine.
 */
paths: Array<string>, } | { "action": "pause", 
/**
 * The job.
 */
job_id: JobId, } | { "action": "resume", 
/**
 * The job.
 */
job_id: JobId, } | { "action": "cancel", 
/**
 * The job.
 */
job_id: JobId, } | { "action": "retry", 
/**
 * The job.
 */
job_id: JobId, };

/**
 * A message from a client.
 */
export type ClientMessage = { "type": "hello", 
/**
 * The epoch of the state the client holds, if any.
 */
epoch?: string, 
/**
 * The `seq` of the last message the client applied, if any.
 */
last_seq?: number, } | { "type": "command", 
/**
 * Chosen by the client, unique per command across clients (use a random
 * prefix), echoed in the reply; 1 to 128 characters.
 */
id: string, 
/**
 * What to do.
 */
command: Command, } | { "type": "ack", 
/**
 * The acknowledged message's `seq`.
 */
seq: number, } | { "type": "acks", 
/**
 * The acknowledged messages' `seq`s.
 */
seqs: Array<number>, } | { "type": "metrics" } | { "type": "ping" };

/**
 * The part of a job that a `change` message carries: the new status and figures, and
 * the other fields that changed. A field left out is unchanged; the path, name, size
 * and creation time never change, and a field that is cleared (a retried job's
 * `error`, say) goes out as a whole `job` message instead.
 */
export type JobChange = { 
/**
 * The job that changed.
 */
id: JobId, 
/**
 * Its new status.
 */
status: JobStatus, 
/**
 * Its figures in that status.
 */
progress: JobProgress, 
/**
 * Its detected media type, when that changed.
 */
mime?: string, 
/**
 * Its content hash, when that changed.
 */
hash?: string, 
/**
 * Where the destination keeps it, when that changed.
 */
remote?: string, 
/**
 * Why it failed, when that changed.
 */
error?: string, 
/**
 * Its note, when that changed.
 */
note?: string, };

/**
 * A message from the server. Every one carries `seq`, increasing by one per message
 * sent on the server, within `epoch` (one per server start).
 */
export type ServerMessage = { "type": "welcome", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * Identifies this server run; sequence numbers restart with a new epoch.
 */
epoch: string, 
/**
 * The protocol spoken, `ferry.v1`.
 */
protocol: string, 
/**
 * The application's version.
 */
server_version: string, 
/**
 * Every job and the queue totals at the moment of connection.
 */
snapshot: Snapshot, 
/**
 * The limits and timings this server applies to every connection.
 */
limits: Limits, } | { "type": "resume", 
/**
 * The server's latest sequence number: the client is up to date once it has
 * applied the replayed messages, which all carry a `seq` up to this one.
 */
seq: number, 
/**
 * The epoch, the same as the client's.
 */
epoch: string, 
/**
 * The `last_seq` the client sent; replayed messages start after it.
 */
from_seq: number, 
/**
 * The limits and timings this server applies to every connection.
 */
limits: Limits, } | { "type": "progress", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * One entry per job, in job order: its figures within its current stage. A
 * figure is never older than a `job` message sent before it for the same job.
 */
progress: Array<JobProgress>, 
/**
 * The whole queue's figures at the same moment.
 */
totals: QueueTotals, } | { "type": "job", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * The job as it is now.
 */
job: JobView, 
/**
 * The last figures of the stage this change ended (its 100 %), when they had
 * not gone out on their own: a stage's end travels with the change that follows
 * it, one message instead of two.
 */
ended?: JobProgress, } | { "type": "change", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * What changed in the job.
 */
job: JobChange, 
/**
 * The last figures of the stage this change ended, as in a `job` message.
 */
ended?: JobProgress, } | { "type": "totals", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * The whole queue's figures.
 */
totals: QueueTotals, } | { "type": "reply", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * The `id` of the command answered.
 */
id: string, 
/**
 * What the command did, when it succeeded.
 */
result: CommandResult | null, 
/**
 * Why it failed, when it did.
 */
error: ProtocolError | null, } | { "type": "error", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * What went wrong.
 */
error: ProtocolError, } | { "type": "metrics", 
/**
 * Sequence number of this message.
 */
seq: number, 
/**
 * The counters.
 */
metrics: MetricsSnapshot, };

/**
 * How a client reaches the server: given to the webview by a Tauri command and written
 * to the connection file for native clients.
 */
export type ConnectionInfo = { 
/**
 * `ws://127.0.0.1:PORT`.
 */
url: string, 
/**
 * The launch token, base64url without padding, sent as `ferry.token.<token>`.
 */
token: string, 
/**
 * The process serving the socket, so a client can tell a stale file from a live one.
 */
pid: number, };

/**
 * What the app's About view shows, from the `app_info` Tauri command.
 */
export type AppInfo = { 
/**
 * The app's version (`0.1.0`).
 */
version: string, 
/**
 * The licence it is distributed under, as an SPDX expression.
 */
licence: string, 
/**
 * Where the job queue and resume points are kept.
 */
data_dir: string, 
/**
 * Where the rolling log files are written.
 */
log_dir: string, 
/**
 * Where uploads go: a folder or a tus server's URL.
 */
destination: string, 
/**
 * Whether Ferry starts when the user logs in (off until the user turns it on).
 */
start_at_login: boolean, };

/**
 * Where a destination's files go.
 */
export type Target = { "kind": "local_folder", 
/**
 * The folder, absolute.
 */
path: string, } | { "kind": "tus", 
/**
 * The creation endpoint (`https://host/files/`).
 */
url: string, };

/**
 * How a destination authenticates. Only the parts that are not secret are here; the
 * secret itself is in the secret store under the destination's id.
 */
export type AuthKind = { "kind": "none" } | { "kind": "bearer" } | { "kind": "basic", 
/**
 * The user name.
 */
user: string, } | { "kind": "header", 
/**
 * The header's name (`X-Api-Key`).
 */
name: string, };

/**
 * What a user sets for a destination (everything but its id and its secret).
 */
export type DestinationSettings = { 
/**
 * The name shown in the app and given to `ferry upload --to`; unique, no slash.
 */
name: string, 
/**
 * Where files go.
 */
target: Target, 
/**
 * How it authenticates.
 */
auth: AuthKind, 
/**
 * Bytes per request to a tus server; the engine's default (8 MiB) when unset.
 */
chunk_size?: number, 
/**
 * Files uploading at once; the caller's default when unset.
 */
concurrency?: number, 
/**
 * Upload rate cap of this destination in bytes per second; none when unset.
 */
bandwidth_limit?: number, };

/**
 * One stored destination: its stable id and its settings.
 */
export type StoredDestination = { 
/**
 * Made when the destination is added and never changed: the name of its secret in
 * the keyring and of its resume points.
 */
id: string, 
/**
 * The name shown in the app and given to `ferry upload --to`; unique, no slash.
 */
name: string, 
/**
 * Where files go.
 */
target: Target, 
/**
 * How it authenticates.
 */
auth: AuthKind, 
/**
 * Bytes per request to a tus server; the engine's default (8 MiB) when unset.
 */
chunk_size?: number, 
/**
 * Files uploading at once; the caller's default when unset.
 */
concurrency?: number, 
/**
 * Upload rate cap of this destination in bytes per second; none when unset.
 */
bandwidth_limit?: number, };

/**
 * The destinations as the app's settings list them.
 */
export type DestinationsView = { 
/**
 * Every destination, in the order they were added.
 */
destinations: Array<StoredDestination>, 
/**
 * The id of the default destination, if one is set.
 */
default_id: string | null, };

/**
 * A watched folder as stored.
 */
export type WatchedFolder = { 
/**
 * Stable id, used by the window's commands.
 */
id: string, 
/**
 * The folder, absolute.
 */
path: string, 
/**
 * The stored destination its files go to; `None`: whatever is the default.
 */
destination_id: string | null, 
/**
 * Paused by the user: not watched, nothing uploaded, until resumed.
 */
paused: boolean, };

/**
 * Where a watched folder stands, for the window.
 */
export type FolderState = "watching" | "scanning" | "paused" | "error";

/**
 * One watched folder as the window shows it.
 */
export type WatchedFolderView = { 
/**
 * See [`WatchedFolder::id`].
 */
id: string, 
/**
 * See [`WatchedFolder::path`].
 */
path: string, 
/**
 * See [`WatchedFolder::destination_id`].
 */
destination_id: string | null, 
/**
 * Where its files go, for people (a destination's name and place, or the default's).
 */
destination: string, 
/**
 * Where it stands.
 */
state: FolderState, 
/**
 * What went wrong, when `state` is `error`.
 */
error: string | null, 
/**
 * Versions of its files uploaded since Ferry started.
 */
uploaded: number, };

/**
 * Every watched folder, for the window.
 */
export type WatchedFoldersView = { 
/**
 * In the order they were added.
 */
folders: Array<WatchedFolderView>, };
