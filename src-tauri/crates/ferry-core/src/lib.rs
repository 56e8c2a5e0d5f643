//! Ferry's engine. Files enter through [`Engine::enqueue`], become jobs persisted in
//! `SQLite`, and run through hashing, parsing, uploading and verifying on a bounded worker
//! pool. Every change is published as an [`EngineEvent`] to whoever subscribed.
//!
//! This crate has no Tauri in it: the desktop shell, the WebSocket server, the CLI and
//! the tests all drive the same engine.
//!
//! Modules, each with one job:
//! - [`model`]: the data every boundary shares (jobs, progress, events);
//! - [`batch`]: telling when a batch of uploads has finished;
//! - `engine`: the queue, the worker pool and the commands;
//! - `pipeline`: one job's stages;
//! - `progress`: smoothed speed, time left, publishing rate;
//! - `store`: the `SQLite` job database;
//! - `walk`: turning dropped paths into files;
//! - [`destination`]: where files go: a local folder, or a tus server;
//! - [`destinations`]: the destinations a user has set up, kept in the configuration
//!   folder (their secrets in the OS keyring);
//! - [`resume`]: where resumable uploads stand, kept across restarts;
//! - [`secrets`]: credentials that never print themselves;
//! - [`throttle`]: bandwidth caps shared by uploads;
//! - `error`: what can go wrong, in words for the user.

pub mod batch;
pub mod destination;
pub mod destinations;
mod engine;
mod error;
pub mod model;
mod pipeline;
mod progress;
pub mod resume;
pub mod secrets;
mod store;
pub mod throttle;
mod walk;

pub use batch::{BatchSummary, BatchWatcher};
pub use destination::tus::{ConnectionProblem, ConnectionReport, TusConfig, TusDestination};
pub use destination::{
    Destination, DestinationPolicy, ExpectedContent, LocalFolderDestination, PendingHash,
    ProgressSink, UploadBody, UploadRequest,
};
pub use engine::{Engine, EngineConfig, DEFAULT_CONCURRENCY};
pub use error::CoreError;
pub use model::{
    EngineEvent, EnqueueReport, JobId, JobProgress, JobStatus, JobView, QueueTotals, SkippedPath,
    Snapshot,
};
