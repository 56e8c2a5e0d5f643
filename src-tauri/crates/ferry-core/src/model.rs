//! The engine's public data model: what a job is, where it stands, and how far along it is.
//!
//! These types cross every boundary of the product (`SQLite` rows, the WebSocket protocol,
//! the UI), so they derive `serde` for the wire and `ts_rs::TS` so the UI's TypeScript
//! types are generated from them instead of written twice.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Identifies one job (one file on its way to one destination) for its whole life,
/// across restarts: it is the job's row id in the queue database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
pub struct JobId(#[ts(type = "number")] pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job-{}", self.0)
    }
}

/// Where a job stands. The active stages run in this order:
/// `hashing -> parsing -> uploading -> verifying -> done`; a job may instead end
/// `failed` or `cancelled`, or rest `paused` until it is resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a free worker.
    Queued,
    /// Streaming the file through BLAKE3.
    Hashing,
    /// Sniffing the content type and applying the destination's policy.
    Parsing,
    /// Sending bytes to the destination.
    Uploading,
    /// Checking that the destination holds exactly what was read locally.
    Verifying,
    /// Uploaded and verified.
    Done,
    /// Stopped by an error; `JobView::error` says which. Can be retried.
    Failed,
    /// Stopped by the user; resumes from the start of the pipeline.
    Paused,
    /// Stopped by the user for good; nothing is left at the destination.
    Cancelled,
}

impl JobStatus {
    /// True for the states a job never leaves by itself (done, failed, cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// True while a worker is running the job.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Hashing | Self::Parsing | Self::Uploading | Self::Verifying
        )
    }

    /// The name used on the wire and in the database, so both spell a state the same way.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Hashing => "hashing",
            Self::Parsing => "parsing",
            Self::Uploading => "uploading",
            Self::Verifying => "verifying",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Paused => "paused",
            Self::Cancelled => "cancelled",
        }
    }

    /// Every state, in pipeline order, so callers can parse or list them without
    /// repeating the variants.
    pub const ALL: [JobStatus; 9] = [
        Self::Queued,
        Self::Hashing,
        Self::Parsing,
        Self::Uploading,
        Self::Verifying,
        Self::Done,
        Self::Failed,
        Self::Paused,
        Self::Cancelled,
    ];
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;

    /// Reads the name written by [`JobStatus::as_str`], so stored states round-trip.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown job status `{s}`"))
    }
}

/// Live progress of one job within its current stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct JobProgress {
    /// The job this progress belongs to.
    pub job_id: JobId,
    /// The stage the figures below describe.
    pub status: JobStatus,
    /// Bytes processed so far in this stage (hashed, sniffed, sent or verified).
    #[ts(type = "number")]
    pub current: u64,
    /// Bytes this stage will process in all: the file size for hashing, uploading and
    /// verifying; for parsing, the leading bytes it inspects (at most a few KiB).
    #[ts(type = "number")]
    pub total: u64,
    /// Smoothed throughput of this stage in bytes per second (an exponential moving
    /// average, so the figure does not jump with every chunk).
    pub speed: f64,
    /// Seconds left in this stage at the smoothed speed; `None` before the speed is known.
    pub eta_secs: Option<f64>,
    /// While uploading to a remote: bytes handed to the network so far, which runs ahead
    /// of `current` (the bytes the server has acknowledged). Absent in other stages and
    /// for destinations that acknowledge every byte as it is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub sent: Option<u64>,
}

/// Everything the UI shows about one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct JobView {
    /// The job's id.
    pub id: JobId,
    /// Absolute path of the source file.
    pub path: String,
    /// The file name shown to the user.
    pub name: String,
    /// Size of the source file in bytes when it was enqueued.
    #[ts(type = "number")]
    pub size: u64,
    /// Where the job stands.
    pub status: JobStatus,
    /// Progress within the current stage.
    pub progress: JobProgress,
    /// MIME type sniffed from the file's first bytes, once parsing has run.
    pub mime: Option<String>,
    /// BLAKE3 hash of the content (hex), once hashing has run.
    pub hash: Option<String>,
    /// Where the file landed (a path or URL), once uploaded.
    pub remote: Option<String>,
    /// Why the job failed, in words meant for the user.
    pub error: Option<String>,
    /// What the job is going through beyond its stage, in words meant for the user: a
    /// retry after a network error, an upload started over because the server lost it,
    /// a smaller chunk size. Cleared when the job settles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
    /// When the job was created, in milliseconds since the Unix epoch.
    #[ts(type = "number")]
    pub created_at_ms: u64,
}

/// Figures for the whole queue, shown in the header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct QueueTotals {
    /// Jobs in the queue, whatever their state.
    pub jobs: u32,
    /// Jobs that are done.
    pub done: u32,
    /// Jobs that failed.
    pub failed: u32,
    /// Jobs a worker is running right now.
    pub active: u32,
    /// Jobs waiting for a worker.
    pub queued: u32,
    /// Jobs paused by the user.
    pub paused: u32,
    /// Jobs cancelled by the user.
    pub cancelled: u32,
    /// Bytes of every job that is not cancelled.
    #[ts(type = "number")]
    pub bytes_total: u64,
    /// Bytes uploaded so far over those jobs (done jobs count in full).
    #[ts(type = "number")]
    pub bytes_done: u64,
    /// Sum of the smoothed upload speeds of the active jobs, bytes per second.
    pub speed: f64,
    /// Seconds until the queue is empty at that speed; `None` when idle or unknown.
    pub eta_secs: Option<f64>,
}

/// The whole state at one moment: what a newly connected client starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Snapshot {
    /// Every job, oldest first.
    pub jobs: Vec<JobView>,
    /// Figures for the whole queue.
    pub totals: QueueTotals,
}

/// What became of one `enqueue` call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct EnqueueReport {
    /// Jobs created, one per file, in the order the files were found.
    pub jobs: Vec<JobId>,
    /// Paths that were not enqueued, each with the reason.
    pub skipped: Vec<SkippedPath>,
}

/// A path `enqueue` refused, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SkippedPath {
    /// The path as given or as found while walking a folder.
    pub path: String,
    /// Why it was skipped, in words meant for the user.
    pub reason: String,
}

/// A change in the engine that clients must hear about. Progress is latest-value-wins
/// state; job updates carry the whole job so a client never has to merge fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineEvent {
    /// New progress figures for a running job.
    Progress {
        /// The figures.
        progress: JobProgress,
        /// The queue's figures at the same moment.
        totals: QueueTotals,
    },
    /// A job was created or changed state (stage, error, result).
    Job {
        /// The job as it is now.
        job: JobView,
        /// The queue's figures at the same moment.
        totals: QueueTotals,
    },
}
