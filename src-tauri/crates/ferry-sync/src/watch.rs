//! Keeping one watched folder in sync: a file watcher (debounced) and a periodic rescan
//! say when to look; a scan against the sync index says what to upload; the engine
//! uploads it; the engine's events say what arrived, and the index records it.

use crate::error::SyncError;
use crate::index::{EntryState, IndexEntry, SyncIndex};
use crate::quiet::QuietGate;
use crate::rules::Rules;
use crate::scan::{plan, walk, FileSeen};
use ferry_core::{Destination, Engine, EngineEvent, JobId, JobStatus, JobView};
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How one folder is watched.
#[derive(Clone)]
pub struct WatchConfig {
    /// The folder, as an absolute path.
    pub folder: PathBuf,
    /// Where its files go; `None`: the engine's default destination when each is queued.
    pub destination: Option<Arc<dyn Destination>>,
    /// How long a file's size and modification time must stay the same before it is
    /// uploaded (2 s by default): a file still being written waits.
    pub quiet: Duration,
    /// How often the whole folder is scanned again, whatever the watcher said, to catch
    /// what it missed (1 hour by default, give or take a tenth so that many folders do
    /// not all scan at once).
    pub rescan_every: Duration,
    /// How long the watcher gathers events before it reports them (500 ms by default).
    pub debounce: Duration,
    /// How soon a folder that could not be watched or scanned is tried again (5 s by
    /// default): the watch recovers by itself once the folder is back.
    pub retry_after: Duration,
}

impl WatchConfig {
    /// The defaults for `folder`.
    pub fn new(folder: PathBuf) -> Self {
        Self {
            folder,
            destination: None,
            quiet: Duration::from_secs(2),
            rescan_every: Duration::from_secs(3600),
            debounce: Duration::from_millis(500),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for WatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchConfig")
            .field("folder", &self.folder)
            .field("destination", &self.destination.as_ref().map(|d| d.name()))
            .field("quiet", &self.quiet)
            .field("rescan_every", &self.rescan_every)
            .finish_non_exhaustive()
    }
}

/// Where a watched folder stands, for the UI and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchStatus {
    /// Looking through the folder.
    Scanning,
    /// Up to date; waiting for changes.
    Watching,
    /// The folder cannot be watched or read: what went wrong and what to do. Tried again
    /// every `retry_after`.
    Error(String),
}

/// A folder being kept in sync. Stops when dropped or with [`FolderSync::stop`].
#[derive(Debug)]
pub struct FolderSync {
    status: watch::Receiver<WatchStatus>,
    uploaded: watch::Receiver<u64>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl FolderSync {
    /// Starts watching `config.folder`, uploading through `engine` what is new or
    /// changed, recording in `index` what arrived. Files queued before a restart are
    /// picked up again from the engine's jobs.
    pub fn start(engine: Engine, index: Arc<SyncIndex>, config: WatchConfig) -> Self {
        let (status_tx, status) = watch::channel(WatchStatus::Scanning);
        let (uploaded_tx, uploaded) = watch::channel(0);
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            Syncer {
                folder_key: config.folder.to_string_lossy().into_owned(),
                gate: QuietGate::new(config.quiet),
                config,
                engine,
                index,
                status: status_tx,
                uploaded: uploaded_tx,
                pending: HashMap::new(),
            }
            .run(stop.clone()),
        );
        Self {
            status,
            uploaded,
            stop,
            task: Some(task),
        }
    }

    /// The folder's status, as it changes.
    pub fn status(&self) -> watch::Receiver<WatchStatus> {
        self.status.clone()
    }

    /// How many versions of this folder's files were recorded as uploaded since it
    /// started, as it grows.
    pub fn uploaded(&self) -> watch::Receiver<u64> {
        self.uploaded.clone()
    }

    /// Stops watching; jobs already queued go on in the engine.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FolderSync {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A file handed to the engine, as it was when queued.
#[derive(Debug, Clone)]
struct Queued {
    path: String,
    size: u64,
    mtime_ns: i64,
}

struct Syncer {
    config: WatchConfig,
    folder_key: String,
    engine: Engine,
    index: Arc<SyncIndex>,
    status: watch::Sender<WatchStatus>,
    /// Counts the versions recorded as uploaded.
    uploaded: watch::Sender<u64>,
    gate: QuietGate,
    /// Jobs of this folder that have not ended yet.
    pending: HashMap<JobId, Queued>,
}

type FolderWatcher = Debouncer<RecommendedWatcher, RecommendedCache>;

impl Syncer {
    async fn run(mut self, stop: CancellationToken) {
        let mut events = self.engine.subscribe();
        let (changed_tx, mut changed) = mpsc::unbounded_channel::<()>();
        let mut watcher: Option<FolderWatcher> = None;
        if let Err(error) = self.reattach() {
            tracing::warn!(%error, "could not match queued files with the engine's jobs");
        }
        let far = || Instant::now() + Duration::from_secs(86_400 * 365);
        let mut scan_due = true;
        let mut quiet_check: Option<Instant> = None;
        let mut retry: Option<Instant> = None;
        let mut rescan = Instant::now() + jittered(self.config.rescan_every);
        loop {
            if scan_due {
                scan_due = false;
                retry = None;
                match self.scan(&mut watcher, &changed_tx).await {
                    Ok(next) => {
                        quiet_check = next;
                        if watcher.is_some() {
                            self.status.send_replace(WatchStatus::Watching);
                        } else {
                            // Scanned, but not watched: keep trying to watch.
                            retry = Some(Instant::now() + self.config.retry_after);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(folder = %self.config.folder.display(), %error, "watched folder");
                        watcher = None;
                        quiet_check = None;
                        retry = Some(Instant::now() + self.config.retry_after);
                        self.status
                            .send_replace(WatchStatus::Error(error.to_string()));
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                Some(()) = changed.recv() => {
                    while changed.try_recv().is_ok() {}
                    scan_due = true;
                }
                () = tokio::time::sleep_until(quiet_check.unwrap_or_else(far)), if quiet_check.is_some() => {
                    scan_due = true;
                }
                () = tokio::time::sleep_until(retry.unwrap_or_else(far)), if retry.is_some() => {
                    scan_due = true;
                }
                () = tokio::time::sleep_until(rescan) => {
                    rescan = Instant::now() + jittered(self.config.rescan_every);
                    scan_due = true;
                }
                event = events.recv() => match event {
                    Ok(EngineEvent::Job { job, .. }) if job.status.is_terminal() => self.ended(&job),
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.catch_up(),
                    Err(RecvError::Closed) => break,
                },
            }
        }
    }

    /// Scans the folder (watching it first if it is not watched yet) and queues what is
    /// new or changed and quiet; returns when to look again at files still being written.
    async fn scan(
        &mut self,
        watcher: &mut Option<FolderWatcher>,
        changed: &mpsc::UnboundedSender<()>,
    ) -> Result<Option<Instant>, SyncError> {
        self.status.send_replace(WatchStatus::Scanning);
        let mut unwatched = None;
        if watcher.is_none() {
            match watch_folder(&self.config.folder, self.config.debounce, changed.clone()) {
                Ok(watching) => *watcher = Some(watching),
                Err(error @ SyncError::FolderMissing(_)) => return Err(error),
                // Scanning still works without the watcher: the folder is kept in sync
                // at each scan, and the error says why changes are not seen at once.
                Err(error) => {
                    tracing::warn!(%error, "watched folder");
                    unwatched = Some(error.to_string());
                }
            }
        }
        let folder = self.config.folder.clone();
        let index = Arc::clone(&self.index);
        let planned = tokio::task::spawn_blocking(move || {
            let rules = Rules::load(&folder)?;
            let found = walk(&folder, &rules)?;
            for problem in &found.problems {
                tracing::warn!(%problem, "part of a watched folder could not be read");
            }
            plan(&index, &folder, &found.files)
        })
        .await
        .map_err(|e| SyncError::Stopped(e.to_string()))??;
        if !planned.renamed.is_empty() || !planned.gone.is_empty() {
            tracing::info!(
                renamed = planned.renamed.len(),
                gone = planned.gone.len(),
                "watched folder: renames and deletions noted (nothing is deleted remotely)"
            );
        }
        let candidates: Vec<FileSeen> = planned.uploads.into_iter().map(|u| u.file).collect();
        let (ready, next) = self
            .gate
            .settle(candidates, std::time::Instant::now(), now_ns());
        self.queue(ready).await?;
        if let Some(error) = unwatched {
            self.status.send_replace(WatchStatus::Error(error));
        }
        // The gate speaks in the standard library's instants; the loop in tokio's.
        Ok(next.map(|at| Instant::from_std(at) + Duration::from_millis(1)))
    }

    /// Hands `files` to the engine and records them as queued.
    async fn queue(&mut self, files: Vec<FileSeen>) -> Result<(), SyncError> {
        if files.is_empty() {
            return Ok(());
        }
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|f| self.config.folder.join(&f.path))
            .collect();
        let report = self
            .engine
            .enqueue_to(paths, self.config.destination.clone())
            .await
            .map_err(|e| SyncError::Engine(e.to_string()))?;
        let by_path: HashMap<PathBuf, &FileSeen> = files
            .iter()
            .map(|f| (self.config.folder.join(&f.path), f))
            .collect();
        for id in report.jobs {
            let Some(job) = self.engine.job(id) else {
                continue;
            };
            let Some(file) = by_path.get(Path::new(&job.path)) else {
                continue;
            };
            self.index.put(&IndexEntry {
                folder: self.folder_key.clone(),
                path: file.path.clone(),
                size: file.size,
                mtime_ns: file.mtime_ns,
                hash: None,
                remote: None,
                state: EntryState::Queued,
            })?;
            self.pending.insert(
                id,
                Queued {
                    path: file.path.clone(),
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                },
            );
        }
        for skipped in report.skipped {
            tracing::warn!(path = %skipped.path, reason = %skipped.reason, "a file of a watched folder could not be queued");
        }
        tracing::info!(
            folder = %self.config.folder.display(),
            queued = self.pending.len(),
            "watched folder: new and changed files queued"
        );
        Ok(())
    }

    /// A job of this folder ended: a version that arrived is recorded; one that failed
    /// or was cancelled is forgotten, so the next scan queues it again.
    fn ended(&mut self, job: &JobView) {
        let Some(queued) = self.pending.remove(&job.id) else {
            return;
        };
        if let Err(error) = self.record(&queued, job) {
            tracing::warn!(%error, path = %queued.path, "could not record an upload in the sync index");
        }
    }

    fn record(&self, queued: &Queued, job: &JobView) -> Result<(), SyncError> {
        // A newer version was queued meanwhile: that one's end is what counts.
        let current = self.index.get(&self.folder_key, &queued.path)?;
        if current.is_some_and(|e| e.size != queued.size || e.mtime_ns != queued.mtime_ns) {
            return Ok(());
        }
        if job.status != JobStatus::Done {
            return self.index.forget(&self.folder_key, &queued.path);
        }
        // The version recorded is the one queued, with the hash the engine took. If the
        // file changed during its upload, the next scan sees another modification time,
        // compares the hash, and uploads the new version.
        self.index.put(&IndexEntry {
            folder: self.folder_key.clone(),
            path: queued.path.clone(),
            size: queued.size,
            mtime_ns: queued.mtime_ns,
            hash: job.hash.clone(),
            remote: job.remote.clone(),
            state: EntryState::Uploaded,
        })?;
        self.uploaded.send_modify(|n| *n += 1);
        Ok(())
    }

    /// After missing engine events: asks the engine how each pending job stands.
    fn catch_up(&mut self) {
        let ids: Vec<JobId> = self.pending.keys().copied().collect();
        for id in ids {
            match self.engine.job(id) {
                Some(job) if job.status.is_terminal() => self.ended(&job),
                Some(_) => {}
                None => {
                    self.pending.remove(&id);
                }
            }
        }
    }

    /// Files the index says were queued (before a restart, say): each is matched with
    /// the engine's newest job for its path; one that ended is recorded, one still
    /// going is followed, and one the engine does not know is forgotten (the next scan
    /// queues it again).
    fn reattach(&mut self) -> Result<(), SyncError> {
        let queued: Vec<IndexEntry> = self
            .index
            .entries(&self.folder_key)?
            .into_iter()
            .filter(|e| e.state == EntryState::Queued)
            .collect();
        if queued.is_empty() {
            return Ok(());
        }
        let mut newest: HashMap<String, JobView> = HashMap::new();
        for job in self.engine.snapshot().jobs {
            let keep = newest.get(&job.path).is_none_or(|seen| seen.id < job.id);
            if keep {
                newest.insert(job.path.clone(), job);
            }
        }
        for entry in queued {
            let path = self.config.folder.join(&entry.path);
            let Some(job) = newest.get(&*path.to_string_lossy()) else {
                self.index.forget(&self.folder_key, &entry.path)?;
                continue;
            };
            let waiting = Queued {
                path: entry.path.clone(),
                size: entry.size,
                mtime_ns: entry.mtime_ns,
            };
            if job.status.is_terminal() {
                self.record(&waiting, job)?;
            } else {
                self.pending.insert(job.id, waiting);
            }
        }
        Ok(())
    }
}

/// Watches `folder` and everything in it; every batch of events (or watcher error)
/// sends one signal on `changed`.
fn watch_folder(
    folder: &Path,
    debounce: Duration,
    changed: mpsc::UnboundedSender<()>,
) -> Result<FolderWatcher, SyncError> {
    if !folder.is_dir() {
        return Err(SyncError::FolderMissing(folder.to_path_buf()));
    }
    let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
        let worth_a_scan = match &result {
            // Reading a file or listing a folder is no change, and the scan itself does
            // both: counting those would have every scan start the next.
            Ok(events) => events
                .iter()
                .any(|event| !matches!(event.kind, EventKind::Access(_))),
            Err(errors) => {
                for error in errors {
                    tracing::warn!(%error, "the file watcher reported an error; scanning again");
                }
                true
            }
        };
        if worth_a_scan {
            let _ = changed.send(());
        }
    })
    .map_err(|e| SyncError::Watch {
        folder: folder.to_path_buf(),
        message: e.to_string(),
    })?;
    debouncer
        .watch(folder, RecursiveMode::Recursive)
        .map_err(|e| SyncError::Watch {
            folder: folder.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(debouncer)
}

/// `period`, give or take a tenth at random.
fn jittered(period: Duration) -> Duration {
    let tenth = period / 10;
    let spread = rand::random_range(0..=tenth.as_millis().max(1) * 2);
    period.saturating_sub(tenth) + Duration::from_millis(u64::try_from(spread).unwrap_or(0))
}

/// Now, in nanoseconds since the Unix epoch (as modification times are).
fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
