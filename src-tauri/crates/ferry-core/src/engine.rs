//! The engine: the queue of jobs, the worker pool that runs them, the commands that
//! steer them, and the event stream that tells everyone what changed.
//!
//! All job state lives in memory behind one short-held mutex; every change is sent to
//! the database thread and published to subscribers while that mutex is held, so the
//! database, the snapshot and the event stream always agree on the order of changes.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::destination::{Destination, UploadRequest};
use crate::error::CoreError;
use crate::model::{
    EngineEvent, EnqueueReport, JobId, JobProgress, JobStatus, JobView, QueueTotals, Snapshot,
};
use crate::pipeline::{self, JobCtx};
use crate::progress::eta_secs;
use crate::store::{JobRecord, Store};
use crate::throttle::Throttle;
use crate::walk;

/// Room for events not yet read by a subscriber. A subscriber that falls further behind
/// loses the oldest events (and is told so by the channel); the engine never waits.
const EVENT_CAPACITY: usize = 4096;

/// How the engine runs: where it keeps its queue, where files go, and how hard it
/// pushes.
#[derive(Clone)]
pub struct EngineConfig {
    /// Folder holding the job database `ferry.db` (created if missing).
    pub data_dir: PathBuf,
    /// Where files are uploaded.
    pub destination: Arc<dyn Destination>,
    /// How many jobs run at once (at least 1).
    pub concurrency: usize,
    /// Period of the progress clock: the running jobs' latest figures are published
    /// together once per period (each job's at most once), so watchers get one message
    /// for all of them instead of one per job at its own moments; stage changes and the
    /// final figure of each stage go out at once. Zero publishes every figure as it
    /// comes.
    pub progress_interval: Duration,
    /// Upload rate cap in bytes/s for all jobs together (a destination may add its
    /// own); `None` for none.
    pub bandwidth_limit: Option<u64>,
}

impl EngineConfig {
    /// A configuration with the defaults: 3 jobs at once, progress at most every 100 ms,
    /// no bandwidth cap.
    pub fn new(data_dir: PathBuf, destination: Arc<dyn Destination>) -> Self {
        Self {
            data_dir,
            destination,
            concurrency: DEFAULT_CONCURRENCY,
            progress_interval: Duration::from_millis(100),
            bandwidth_limit: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("data_dir", &self.data_dir)
            .field("destination", &self.destination.name())
            .field("concurrency", &self.concurrency)
            .field("progress_interval", &self.progress_interval)
            .field("bandwidth_limit", &self.bandwidth_limit)
            .finish()
    }
}

/// A handle to the running engine. Cheap to clone: every clone steers the same queue.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("destination", &self.shared.default_destination().name())
            .finish_non_exhaustive()
    }
}

/// Why a running job was asked to stop, which decides the state it stops in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    /// Stop and rest as paused.
    Pause,
    /// Stop for good and remove what reached the destination.
    Cancel,
    /// Stop and go back to the queue (shutdown, or resumed while a pause was pending).
    Requeue,
}

/// A worker's hold on a running job.
struct Run {
    token: CancellationToken,
    stop: Option<StopReason>,
    stopped: watch::Receiver<bool>,
}

/// One job in memory.
pub(crate) struct Entry {
    path: PathBuf,
    pub(crate) view: JobView,
    /// Where this job uploads: the default destination when it was added (or, for a
    /// job restored at start, the default of then). A new default leaves it alone, so
    /// its resume point, its partial upload and its copy stay where they are.
    destination: Arc<dyn Destination>,
    /// Bytes uploaded in the current run (for the queue totals).
    pub(crate) uploaded: u64,
    /// Smoothed upload speed in the current run (for the queue totals).
    pub(crate) upload_speed: f64,
    run: Option<Run>,
    /// A running figure recorded since the job's figures were last published: the
    /// progress clock publishes it at its next tick.
    figure_waiting: bool,
    /// The stage and value of the last figure published, so that a stage's final
    /// figure already published by the clock does not go out twice.
    published: Option<(JobStatus, u64)>,
}

impl Entry {
    fn record(&self) -> JobRecord {
        let v = &self.view;
        JobRecord {
            id: v.id,
            path: self.path.clone(),
            name: v.name.clone(),
            size: v.size,
            status: v.status,
            mime: v.mime.clone(),
            hash: v.hash.clone(),
            remote: v.remote.clone(),
            error: v.error.clone(),
            created_at_ms: v.created_at_ms,
        }
    }

    fn request(&self) -> UploadRequest {
        UploadRequest {
            job_id: self.view.id,
            source: self.path.clone(),
            name: self.view.name.clone(),
            size: self.view.size,
            mime: self.view.mime.clone().unwrap_or_default(),
            blake3: self.view.hash.clone().unwrap_or_default(),
            hashing: None,
        }
    }

    /// Puts the job in a resting state (not run by a worker) with matching figures.
    fn rest(&mut self, status: JobStatus) {
        self.rest_keeping(status, 0);
    }

    /// Like [`Entry::rest`], for a job whose destination keeps `kept` bytes of its
    /// upload (a resumable upload paused or failed part-way): the figures keep showing
    /// them, and the queue counts them as uploaded.
    fn rest_keeping(&mut self, status: JobStatus, kept: u64) {
        let size = self.view.size;
        let current = if status == JobStatus::Done {
            size
        } else {
            kept.min(size)
        };
        self.view.status = status;
        self.view.progress = JobProgress {
            job_id: self.view.id,
            status,
            current,
            total: size,
            speed: 0.0,
            eta_secs: None,
            sent: None,
        };
        self.view.note = None;
        self.uploaded = current;
        self.upload_speed = 0.0;
    }
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<JobId, Entry>,
    queue: VecDeque<JobId>,
    next_id: i64,
    closed: bool,
    /// Jobs handed to a worker and not settled yet.
    running: usize,
}

impl State {
    fn entry(&mut self, id: JobId) -> Result<&mut Entry, CoreError> {
        self.jobs.get_mut(&id).ok_or(CoreError::UnknownJob(id))
    }

    fn totals(&self) -> QueueTotals {
        let mut t = QueueTotals::default();
        let mut remaining = 0u64;
        for entry in self.jobs.values() {
            let status = entry.view.status;
            let size = entry.view.size;
            t.jobs += 1;
            match status {
                JobStatus::Queued => t.queued += 1,
                JobStatus::Paused => t.paused += 1,
                JobStatus::Done => t.done += 1,
                JobStatus::Failed => t.failed += 1,
                JobStatus::Cancelled => t.cancelled += 1,
                JobStatus::Hashing
                | JobStatus::Parsing
                | JobStatus::Uploading
                | JobStatus::Verifying => t.active += 1,
            }
            if status != JobStatus::Cancelled {
                t.bytes_total += size;
            }
            let done = match status {
                JobStatus::Done => size,
                JobStatus::Cancelled => 0,
                // Active jobs: bytes so far; resting ones: what a resumable
                // destination kept.
                _ => entry.uploaded.min(size),
            };
            t.bytes_done += done;
            if status == JobStatus::Uploading {
                t.speed += entry.upload_speed;
            }
            if !status.is_terminal() {
                remaining += size - done;
            }
        }
        t.eta_secs = if remaining == 0 {
            None
        } else {
            eta_secs(remaining, t.speed)
        };
        t
    }
}

/// Jobs run at once unless the configuration or the destination says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 3;

/// What the worker pool and the commands share.
pub(crate) struct Shared {
    /// Where jobs added from now on upload; see [`Engine::set_destination`].
    default_destination: RwLock<Arc<dyn Destination>>,
    /// How many jobs may run at once; see [`Engine::set_concurrency`].
    concurrency: AtomicUsize,
    /// Worker tasks spawned so far: never fewer than `concurrency`.
    spawned_workers: AtomicUsize,
    pub(crate) progress_interval: Duration,
    pub(crate) throttle: Option<Arc<Throttle>>,
    state: Mutex<State>,
    events: broadcast::Sender<EngineEvent>,
    store: Store,
    wake: Notify,
    /// Woken when a running figure waits for the progress clock.
    figures_waiting: Notify,
    shutdown: CancellationToken,
    workers: Mutex<Vec<JoinHandle<()>>>,
    shutdown_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    /// Spawns worker tasks until there are `count` of them.
    fn spawn_workers(self: &Arc<Self>, count: usize) {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        while self.spawned_workers.load(Ordering::Relaxed) < count {
            let n = self.spawned_workers.fetch_add(1, Ordering::Relaxed);
            workers.push(tokio::spawn(
                work(Arc::clone(self)).instrument(tracing::debug_span!("worker", n)),
            ));
        }
    }

    /// Where jobs added now upload.
    fn default_destination(&self) -> Arc<dyn Destination> {
        Arc::clone(
            &self
                .default_destination
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, for a command: fails once the engine has shut down.
    fn lock_open(&self) -> Result<MutexGuard<'_, State>, CoreError> {
        let state = self.lock();
        if state.closed {
            return Err(CoreError::ShutDown);
        }
        Ok(state)
    }

    /// Saves and announces job `id` as it is now. Call with the state lock held.
    fn publish(&self, state: &State, id: JobId) {
        if let Some(entry) = state.jobs.get(&id) {
            self.store.save(vec![entry.record()]);
            let _ = self.events.send(EngineEvent::Job {
                job: entry.view.clone(),
                totals: state.totals(),
            });
        }
    }

    /// Applies `f` to job `id`, then saves and announces it.
    pub(crate) fn change(&self, id: JobId, f: impl FnOnce(&mut Entry)) {
        let mut state = self.lock();
        if let Some(entry) = state.jobs.get_mut(&id) {
            f(entry);
            self.publish(&state, id);
        }
    }

    /// Applies `f` to job `id`'s view and saves it, without an event.
    pub(crate) fn note(&self, id: JobId, f: impl FnOnce(&mut JobView)) {
        let mut state = self.lock();
        if let Some(entry) = state.jobs.get_mut(&id) {
            f(&mut entry.view);
            self.store.save(vec![entry.record()]);
        }
    }

    /// Job `id` as it is now.
    pub(crate) fn job_view(&self, id: JobId) -> Option<JobView> {
        self.lock().jobs.get(&id).map(|entry| entry.view.clone())
    }

    /// The copy job `id` left at the destination, if any.
    pub(crate) fn remote_of(&self, id: JobId) -> Option<String> {
        self.lock()
            .jobs
            .get(&id)
            .and_then(|entry| entry.view.remote.clone())
    }

    /// Records new figures for a running job. A stage's final figure (`stage_end`) is
    /// published at once unless the clock already published it; any other waits for the
    /// progress clock's next tick (see [`progress_clock`]), or goes at once when there is
    /// no clock (a zero `progress_interval`).
    pub(crate) fn progress(&self, progress: JobProgress, stage_end: bool) {
        let mut state = self.lock();
        let Some(entry) = state.jobs.get_mut(&progress.job_id) else {
            return;
        };
        if entry.view.status != progress.status {
            return;
        }
        if progress.status == JobStatus::Uploading {
            entry.uploaded = progress.current;
            entry.upload_speed = progress.speed;
        }
        entry.view.progress = progress.clone();
        if stage_end || self.progress_interval.is_zero() {
            entry.figure_waiting = false;
            let figure = Some((progress.status, progress.current));
            if entry.published != figure {
                entry.published = figure;
                let totals = state.totals();
                let _ = self.events.send(EngineEvent::Progress { progress, totals });
            }
        } else if !entry.figure_waiting {
            entry.figure_waiting = true;
            self.figures_waiting.notify_one();
        }
    }

    /// Publishes every running job's figure recorded since its last, one event each,
    /// back to back (so a reader takes them together); returns how many.
    fn publish_waiting_figures(&self) -> usize {
        let mut state = self.lock();
        if !state.jobs.values().any(|entry| entry.figure_waiting) {
            return 0;
        }
        let totals = state.totals();
        let mut published = 0;
        for entry in state.jobs.values_mut().filter(|entry| entry.figure_waiting) {
            entry.figure_waiting = false;
            let progress = entry.view.progress.clone();
            entry.published = Some((progress.status, progress.current));
            let _ = self.events.send(EngineEvent::Progress {
                progress,
                totals: totals.clone(),
            });
            published += 1;
        }
        published
    }

    fn snapshot_locked(state: &State) -> Snapshot {
        Snapshot {
            jobs: state.jobs.values().map(|e| e.view.clone()).collect(),
            totals: state.totals(),
        }
    }

    /// Hands the next queued job to a worker.
    fn take_next(&self) -> Option<Started> {
        let mut guard = self.lock();
        // One borrow of the state, so the job and the running count can change together.
        let state = &mut *guard;
        if state.closed || state.running >= self.concurrency.load(Ordering::Relaxed) {
            return None;
        }
        while let Some(id) = state.queue.pop_front() {
            let Some(entry) = state.jobs.get_mut(&id) else {
                continue;
            };
            if entry.view.status != JobStatus::Queued || entry.run.is_some() {
                continue;
            }
            let token = CancellationToken::new();
            let (stopped_tx, stopped_rx) = watch::channel(false);
            state.running += 1;
            entry.run = Some(Run {
                token: token.clone(),
                stop: None,
                stopped: stopped_rx,
            });
            return Some(Started {
                id,
                path: entry.path.clone(),
                name: entry.view.name.clone(),
                destination: Arc::clone(&entry.destination),
                token,
                stopped: stopped_tx,
            });
        }
        None
    }

    /// Runs one job to its end and settles its state.
    async fn run_job(self: &Arc<Self>, job: Started) {
        let span = tracing::info_span!("job", id = %job.id);
        let destination = job.destination;
        let ctx = JobCtx::new(
            Arc::clone(self),
            job.id,
            job.path,
            job.name,
            Arc::clone(&destination),
            job.token.clone(),
        );
        // Its own task, so that even a bug (a panic) ends as a failed job, not a lost
        // worker.
        let task = tokio::spawn(async move { pipeline::run(&ctx).await }.instrument(span.clone()));
        let result = task
            .await
            .unwrap_or_else(|e| Err(CoreError::Internal(format!("the job's task ended: {e}"))));
        let stop = self
            .lock()
            .jobs
            .get(&job.id)
            .and_then(|e| e.run.as_ref())
            .and_then(|r| r.stop);
        let (status, error) = match (result, stop) {
            (Ok(()), _) => (JobStatus::Done, None),
            (Err(_), Some(StopReason::Cancel)) => (JobStatus::Cancelled, None),
            (Err(_), Some(StopReason::Pause)) => (JobStatus::Paused, None),
            (Err(_), Some(StopReason::Requeue)) => (JobStatus::Queued, None),
            (Err(err), None) => (JobStatus::Failed, Some(err.to_string())),
        };
        if status == JobStatus::Cancelled && destination.resumable() {
            // The partial upload was kept while the job ran; cancelling ends it.
            let request = self.lock().jobs.get(&job.id).map(Entry::request);
            if let Some(request) = request {
                if let Err(e) = destination.discard(&request).await {
                    tracing::warn!(parent: &span, error = %e, "could not end the cancelled upload");
                }
            }
        }
        if status == JobStatus::Cancelled {
            if let Some(remote) = self.remote_of(job.id) {
                match destination.remove(&remote).await {
                    Ok(()) => self.note(job.id, |view| view.remote = None),
                    Err(e) => {
                        tracing::warn!(parent: &span, error = %e, "could not remove the cancelled copy");
                    }
                }
            }
        }
        {
            let mut state = self.lock();
            state.running = state.running.saturating_sub(1);
            let closed = state.closed;
            if let Some(entry) = state.jobs.get_mut(&job.id) {
                entry.run = None;
                // A resumable upload stopped part-way keeps what the server acknowledged.
                let kept = if destination.resumable()
                    && matches!(
                        status,
                        JobStatus::Paused | JobStatus::Failed | JobStatus::Queued
                    )
                    && entry.view.progress.status == JobStatus::Uploading
                {
                    entry.view.progress.current
                } else {
                    0
                };
                entry.rest_keeping(status, kept);
                entry.view.error.clone_from(&error);
                if status == JobStatus::Queued && !closed {
                    state.queue.push_back(job.id);
                    self.wake.notify_one();
                }
            }
            self.publish(&state, job.id);
        }
        if let Some(reason) = &error {
            tracing::warn!(parent: &span, %reason, "failed");
        } else {
            tracing::info!(parent: &span, %status, "settled");
        }
        let _ = job.stopped.send(true);
    }
}

/// A job a worker took from the queue.
struct Started {
    id: JobId,
    path: PathBuf,
    name: String,
    destination: Arc<dyn Destination>,
    token: CancellationToken,
    stopped: watch::Sender<bool>,
}

/// What a command must do after releasing the state lock.
enum After {
    /// Nothing: the answer is ready.
    Reply(JobView),
    /// Wait for the worker to stop the job.
    WaitStopped(watch::Receiver<bool>),
    /// Remove what the job left at the destination.
    Clean(UploadRequest, Option<String>, Arc<dyn Destination>),
}

impl Engine {
    /// Opens the database in `config.data_dir`, brings back unfinished jobs (running
    /// ones are queued again, paused ones stay paused, partial uploads are removed) and
    /// starts the worker pool.
    pub async fn start(config: EngineConfig) -> Result<Engine, CoreError> {
        let data_dir = config.data_dir.clone();
        let (store, records) = tokio::task::spawn_blocking(move || Store::open(&data_dir))
            .await
            .map_err(|e| CoreError::Database {
                path: config.data_dir.clone(),
                message: format!("opening the database stopped: {e}"),
            })??;

        let Recovered {
            state,
            requeued,
            leftovers,
        } = recover(records, &config.destination);
        store.save(requeued);
        store.flush().await?;

        // A resumable destination continues partial uploads instead.
        let leftovers = if config.destination.resumable() {
            Vec::new()
        } else {
            leftovers
        };
        for request in &leftovers {
            if let Err(e) = config.destination.discard(request).await {
                tracing::warn!(id = %request.job_id, error = %e, "could not remove a partial upload from the previous run");
            }
        }

        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let queued = state.queue.len();
        let jobs = state.jobs.len();
        let shared = Arc::new(Shared {
            default_destination: RwLock::new(config.destination),
            concurrency: AtomicUsize::new(config.concurrency.max(1)),
            spawned_workers: AtomicUsize::new(0),
            progress_interval: config.progress_interval,
            throttle: config
                .bandwidth_limit
                .filter(|rate| *rate > 0)
                .map(|rate| Arc::new(Throttle::new(rate))),
            state: Mutex::new(state),
            events,
            store,
            wake: Notify::new(),
            figures_waiting: Notify::new(),
            shutdown: CancellationToken::new(),
            workers: Mutex::new(Vec::new()),
            shutdown_lock: tokio::sync::Mutex::new(()),
        });
        let concurrency = config.concurrency.max(1);
        shared.spawn_workers(concurrency);
        shared
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tokio::spawn(progress_clock(Arc::clone(&shared))));
        tracing::info!(
            jobs,
            queued,
            concurrency,
            destination = shared.default_destination().name(),
            "engine started"
        );
        Ok(Engine { shared })
    }

    /// Adds files and folders (walked recursively) to the queue, one job per regular
    /// file. Paths that cannot be used are reported in `skipped` with the reason.
    pub async fn enqueue(&self, paths: Vec<PathBuf>) -> Result<EnqueueReport, CoreError> {
        self.enqueue_to(paths, None).await
    }

    /// Like [`Engine::enqueue`], uploading to `destination` instead of the default (a
    /// watched folder bound to a destination of its own); `None` is the default.
    pub async fn enqueue_to(
        &self,
        paths: Vec<PathBuf>,
        destination: Option<Arc<dyn Destination>>,
    ) -> Result<EnqueueReport, CoreError> {
        if self.shared.lock().closed {
            return Err(CoreError::ShutDown);
        }
        let found = tokio::task::spawn_blocking(move || walk::walk(&paths))
            .await
            .map_err(|e| CoreError::Internal(format!("looking through the files stopped: {e}")))?;
        let mut report = EnqueueReport {
            jobs: Vec::with_capacity(found.files.len()),
            skipped: found.skipped,
        };
        {
            let mut state = self.shared.lock_open()?;
            let destination = destination.unwrap_or_else(|| self.shared.default_destination());
            let created_at_ms = now_ms();
            let mut records = Vec::with_capacity(found.files.len());
            for file in found.files {
                let id = JobId(state.next_id);
                state.next_id += 1;
                let mut entry = Entry {
                    view: JobView {
                        id,
                        path: file.path.to_string_lossy().into_owned(),
                        name: file.name,
                        size: file.size,
                        status: JobStatus::Queued,
                        progress: JobProgress {
                            job_id: id,
                            status: JobStatus::Queued,
                            current: 0,
                            total: file.size,
                            speed: 0.0,
                            eta_secs: None,
                            sent: None,
                        },
                        mime: None,
                        hash: None,
                        remote: None,
                        error: None,
                        note: None,
                        created_at_ms,
                    },
                    path: file.path,
                    destination: Arc::clone(&destination),
                    uploaded: 0,
                    upload_speed: 0.0,
                    run: None,
                    figure_waiting: false,
                    published: None,
                };
                entry.rest(JobStatus::Queued);
                records.push(entry.record());
                tracing::info!(%id, path = %entry.view.path, size = entry.view.size, "enqueued");
                state.jobs.insert(id, entry);
                state.queue.push_back(id);
                report.jobs.push(id);
            }
            self.shared.store.save(records);
            let totals = state.totals();
            for id in &report.jobs {
                let job = state.jobs[id].view.clone();
                let _ = self.shared.events.send(EngineEvent::Job {
                    job,
                    totals: totals.clone(),
                });
            }
        }
        self.shared.store.flush().await?;
        for _ in &report.jobs {
            self.shared.wake.notify_one();
        }
        Ok(report)
    }

    /// Stops a job and keeps it aside until it is resumed. A running job stops within
    /// one chunk and its partial upload is removed; returns once it has stopped.
    pub async fn pause(&self, id: JobId) -> Result<JobView, CoreError> {
        let after = {
            let mut state = self.shared.lock_open()?;
            let entry = state.entry(id)?;
            if let Some(run) = entry.run.as_mut() {
                if run.stop != Some(StopReason::Cancel) {
                    run.stop = Some(StopReason::Pause);
                }
                run.token.cancel();
                After::WaitStopped(run.stopped.clone())
            } else {
                match entry.view.status {
                    JobStatus::Queued => {
                        entry.rest(JobStatus::Paused);
                        state.queue.retain(|q| *q != id);
                        self.shared.publish(&state, id);
                        After::Reply(state.jobs[&id].view.clone())
                    }
                    JobStatus::Paused => After::Reply(entry.view.clone()),
                    status => {
                        return Err(CoreError::InvalidState {
                            id,
                            status,
                            action: "paused",
                            hint: terminal_hint(status),
                        })
                    }
                }
            }
        };
        self.finish_command(id, after).await
    }

    /// Puts a paused job back in the queue; it starts again from hashing.
    pub async fn resume(&self, id: JobId) -> Result<JobView, CoreError> {
        let after = {
            let mut state = self.shared.lock_open()?;
            let entry = state.entry(id)?;
            if let Some(run) = entry.run.as_mut() {
                // Still running; a pending pause becomes a return to the queue.
                if run.stop == Some(StopReason::Pause) {
                    run.stop = Some(StopReason::Requeue);
                }
                After::Reply(entry.view.clone())
            } else {
                match entry.view.status {
                    JobStatus::Paused => {
                        entry.rest(JobStatus::Queued);
                        entry.view.error = None;
                        state.queue.push_back(id);
                        self.shared.publish(&state, id);
                        self.shared.wake.notify_one();
                        After::Reply(state.jobs[&id].view.clone())
                    }
                    JobStatus::Queued => After::Reply(entry.view.clone()),
                    status => {
                        return Err(CoreError::InvalidState {
                            id,
                            status,
                            action: "resumed",
                            hint: match status {
                                JobStatus::Done => "it is already uploaded",
                                _ => "use retry to run it again",
                            },
                        })
                    }
                }
            }
        };
        self.finish_command(id, after).await
    }

    /// Pauses every job that is queued or running (the tray's "Pause all") and returns
    /// them as they ended up. Queued jobs are set aside first, so that none starts while
    /// the running ones stop; a job that settles meanwhile is simply left as it is.
    pub async fn pause_all(&self) -> Vec<JobView> {
        let mut jobs: Vec<JobView> = self
            .snapshot()
            .jobs
            .into_iter()
            .filter(|job| job.status == JobStatus::Queued || job.status.is_active())
            .collect();
        jobs.sort_by_key(|job| job.status != JobStatus::Queued);
        let mut paused = Vec::with_capacity(jobs.len());
        let mut running = Vec::new();
        for job in jobs {
            if job.status == JobStatus::Queued {
                paused.extend(self.pause(job.id).await.ok());
            } else {
                running.push(self.pause(job.id));
            }
        }
        paused.extend(
            futures_util::future::join_all(running)
                .await
                .into_iter()
                .filter_map(Result::ok),
        );
        paused
    }

    /// Puts every paused job back in the queue (the tray's "Resume all"), oldest first.
    pub async fn resume_all(&self) -> Vec<JobView> {
        let mut resumed = Vec::new();
        for job in self.snapshot().jobs {
            if job.status == JobStatus::Paused {
                resumed.extend(self.resume(job.id).await.ok());
            }
        }
        resumed
    }

    /// Stops a job for good and removes whatever reached the destination. Returns once
    /// a running job has stopped.
    pub async fn cancel(&self, id: JobId) -> Result<JobView, CoreError> {
        let after = {
            let mut state = self.shared.lock_open()?;
            let entry = state.entry(id)?;
            if let Some(run) = entry.run.as_mut() {
                run.stop = Some(StopReason::Cancel);
                run.token.cancel();
                After::WaitStopped(run.stopped.clone())
            } else {
                match entry.view.status {
                    JobStatus::Queued | JobStatus::Paused => {
                        let request = entry.request();
                        let remote = entry.view.remote.take();
                        let destination = Arc::clone(&entry.destination);
                        entry.rest(JobStatus::Cancelled);
                        state.queue.retain(|q| *q != id);
                        self.shared.publish(&state, id);
                        After::Clean(request, remote, destination)
                    }
                    JobStatus::Cancelled => After::Reply(entry.view.clone()),
                    status => {
                        return Err(CoreError::InvalidState {
                            id,
                            status,
                            action: "cancelled",
                            hint: terminal_hint(status),
                        })
                    }
                }
            }
        };
        self.finish_command(id, after).await
    }

    /// Runs a failed or cancelled job again from the start.
    pub async fn retry(&self, id: JobId) -> Result<JobView, CoreError> {
        let view = {
            let mut state = self.shared.lock_open()?;
            let entry = state.entry(id)?;
            match (entry.view.status, entry.run.is_some()) {
                (JobStatus::Failed | JobStatus::Cancelled, false) => {
                    entry.rest(JobStatus::Queued);
                    entry.view.error = None;
                    state.queue.push_back(id);
                    self.shared.publish(&state, id);
                    self.shared.wake.notify_one();
                    state.jobs[&id].view.clone()
                }
                (status, _) => {
                    return Err(CoreError::InvalidState {
                        id,
                        status,
                        action: "retried",
                        hint: "only failed or cancelled jobs can be retried",
                    })
                }
            }
        };
        self.shared.store.flush().await?;
        Ok(view)
    }

    /// Makes `destination` the one that files added from now on upload to, without a
    /// restart. Jobs already in the queue, running or paused keep the destination they
    /// were added with, so what they already sent stays where it is; at the next start,
    /// the unfinished ones go to the default of then. See [`Engine::set_concurrency`]
    /// for the number of jobs at once a destination asks for.
    pub fn set_destination(&self, destination: Arc<dyn Destination>) {
        tracing::info!(
            destination = destination.name(),
            "new uploads go to a new default"
        );
        *self
            .shared
            .default_destination
            .write()
            .unwrap_or_else(PoisonError::into_inner) = destination;
    }

    /// Lets `count` jobs (at least one) run at once from now on, without a restart: more
    /// start at once when there is room; with fewer, running jobs finish and the next
    /// ones wait until the number running is below `count`.
    pub fn set_concurrency(&self, count: usize) {
        let count = count.max(1);
        if self.shared.shutdown.is_cancelled() {
            return;
        }
        let before = self.shared.concurrency.swap(count, Ordering::Relaxed);
        if before != count {
            tracing::info!(concurrency = count, "jobs at once changed");
        }
        self.shared.spawn_workers(count);
        self.shared.wake.notify_waiters();
    }

    /// Where files added now upload: the label of the default destination.
    pub fn destination_name(&self) -> String {
        self.shared.default_destination().name().to_owned()
    }

    /// Every job (history included) and the queue's figures, as of now.
    pub fn snapshot(&self) -> Snapshot {
        Shared::snapshot_locked(&self.shared.lock())
    }

    /// One job as of now.
    pub fn job(&self, id: JobId) -> Option<JobView> {
        self.shared.lock().jobs.get(&id).map(|e| e.view.clone())
    }

    /// Every change from now on. A receiver that falls more than a few thousand events
    /// behind misses the oldest ones (it gets `Lagged` and should take a new snapshot).
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.shared.events.subscribe()
    }

    /// Snapshot and subscription taken atomically, so no event falls between them.
    pub fn subscribe_with_snapshot(&self) -> (Snapshot, broadcast::Receiver<EngineEvent>) {
        let state = self.shared.lock();
        let receiver = self.shared.events.subscribe();
        (Shared::snapshot_locked(&state), receiver)
    }

    /// Stops the workers (running jobs go back to queued in the database, to run again
    /// on the next start) and closes the database. Returns once everything stopped.
    /// Commands afterwards fail with [`CoreError::ShutDown`].
    pub async fn shutdown(&self) {
        let _once = self.shared.shutdown_lock.lock().await;
        {
            let mut state = self.shared.lock();
            state.closed = true;
            for entry in state.jobs.values_mut() {
                if let Some(run) = entry.run.as_mut() {
                    if run.stop != Some(StopReason::Cancel) {
                        run.stop = Some(StopReason::Requeue);
                    }
                    run.token.cancel();
                }
            }
        }
        self.shared.shutdown.cancel();
        let workers = std::mem::take(
            &mut *self
                .shared
                .workers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for worker in workers {
            if let Err(e) = worker.await {
                tracing::error!(error = %e, "a worker stopped abnormally");
            }
        }
        if let Err(e) = self.shared.store.flush().await {
            tracing::error!(error = %e, "the last job changes could not be saved");
        }
        self.shared.store.close().await;
        tracing::info!("engine stopped");
    }

    async fn finish_command(&self, id: JobId, after: After) -> Result<JobView, CoreError> {
        match after {
            After::Reply(view) => {
                self.shared.store.flush().await?;
                return Ok(view);
            }
            After::WaitStopped(mut stopped) => {
                let _ = stopped.wait_for(|done| *done).await;
            }
            After::Clean(request, remote, destination) => {
                if let Err(e) = destination.discard(&request).await {
                    tracing::warn!(%id, error = %e, "could not remove a partial upload");
                }
                if let Some(remote) = remote {
                    if let Err(e) = destination.remove(&remote).await {
                        tracing::warn!(%id, error = %e, "could not remove the cancelled copy");
                    }
                }
            }
        }
        self.shared.store.flush().await?;
        self.job(id).ok_or(CoreError::UnknownJob(id))
    }
}

/// What was found in the database at start.
struct Recovered {
    state: State,
    requeued: Vec<JobRecord>,
    leftovers: Vec<UploadRequest>,
}

/// Rebuilds the queue from stored jobs: jobs that were running when Ferry stopped go
/// back to the queue (same row, same id), paused ones stay paused, history stays.
fn recover(records: Vec<JobRecord>, destination: &Arc<dyn Destination>) -> Recovered {
    let mut out = Recovered {
        state: State {
            next_id: 1,
            ..State::default()
        },
        requeued: Vec::new(),
        leftovers: Vec::new(),
    };
    for record in records {
        let status = if record.status.is_active() {
            JobStatus::Queued
        } else {
            record.status
        };
        let id = record.id;
        let mut entry = Entry {
            view: JobView {
                id,
                path: record.path.to_string_lossy().into_owned(),
                name: record.name,
                size: record.size,
                status,
                progress: JobProgress {
                    job_id: id,
                    status,
                    current: 0,
                    total: record.size,
                    speed: 0.0,
                    eta_secs: None,
                    sent: None,
                },
                mime: record.mime,
                hash: record.hash,
                remote: record.remote,
                error: record.error,
                note: None,
                created_at_ms: record.created_at_ms,
            },
            path: record.path,
            destination: Arc::clone(destination),
            uploaded: 0,
            upload_speed: 0.0,
            run: None,
            figure_waiting: false,
            published: None,
        };
        entry.rest(status);
        if status != record.status {
            tracing::info!(%id, was = %record.status, "job was running when Ferry stopped; queued again");
            out.requeued.push(entry.record());
        }
        if status == JobStatus::Queued {
            out.state.queue.push_back(id);
        }
        if !status.is_terminal() {
            out.leftovers.push(entry.request());
        }
        out.state.next_id = out.state.next_id.max(id.0 + 1);
        out.state.jobs.insert(id, entry);
    }
    out
}

fn terminal_hint(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Done => "it is already uploaded",
        JobStatus::Failed => "retry it instead",
        JobStatus::Cancelled => "retry it to start again",
        _ => "try again in a moment",
    }
}

/// One worker: takes queued jobs one at a time until shutdown.
/// Publishes the running jobs' latest figures together, once per `progress_interval`,
/// while any job records some; idle (no timer at all) otherwise.
///
/// Figures published at one moment reach the server as one burst, which it sends to
/// each watcher as one message in one write: four jobs uploading at once cost a watcher
/// 20 wake-ups a second instead of 80. Each job's figures are at most one period old.
async fn progress_clock(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.figures_waiting.notified() => {}
            () = shared.shutdown.cancelled() => return,
        }
        let period = shared.progress_interval;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shared.shutdown.cancelled() => return,
            }
            // A tick with nothing to publish: every job has finished its stage or
            // stopped, so the clock rests until a figure waits again.
            if shared.publish_waiting_figures() == 0 {
                break;
            }
        }
    }
}

async fn work(shared: Arc<Shared>) {
    loop {
        if shared.shutdown.is_cancelled() {
            return;
        }
        match shared.take_next() {
            Some(job) => shared.run_job(job).await,
            None => {
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = shared.shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch, for timestamps shown to people.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
