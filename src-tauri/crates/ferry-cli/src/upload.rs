//! `ferry upload`: one engine run over the given paths, waiting until every job settles.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use ferry_core::{
    Engine, EngineConfig, EngineEvent, JobId, JobStatus, JobView, QueueTotals, Snapshot,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::broadcast::error::RecvError;

use crate::destination::DestinationArgs;
use crate::signal::StopSignal;
use crate::size::parse_size;

/// Every file arrived and was verified.
pub(crate) const EXIT_OK: u8 = 0;
/// At least one file failed (or was cancelled).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Ferry could not run: bad arguments, an unusable data folder or destination.
pub(crate) const EXIT_ERROR: u8 = 2;
/// Stopped by a signal; running the same command again continues.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Arguments of `ferry upload`.
#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// Files and folders to upload (folders are walked recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    destination: DestinationArgs,
    /// Upload rate cap for all files together, per second (`500K`, `2MiB`).
    #[arg(long, value_parser = parse_size)]
    limit_rate: Option<u64>,
    /// One JSON object per line on stdout for every update, instead of progress bars.
    #[arg(long)]
    json: bool,
    /// How many files upload at once (3, or the stored destination's).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Where the queue and resume points are kept (by default a folder per destination
    /// in the user's data folder, so running the same command again resumes).
    #[arg(long, env = "FERRY_CLI_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// Runs the command; returns the process exit code.
pub(crate) async fn run(args: UploadArgs) -> u8 {
    let stop = StopSignal::listen();
    match start(&args).await {
        Ok((engine, watched)) => watch(engine, watched, args.json, stop).await,
        Err(message) => {
            eprintln!("ferry: {message}");
            EXIT_ERROR
        }
    }
}

/// Builds the destination and the engine, and enqueues what is not already queued.
async fn start(args: &UploadArgs) -> Result<(Engine, BTreeSet<JobId>), String> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| args.destination.default_data_dir("cli"));
    let (destination, stored_concurrency) = args.destination.build(&data_dir)?;
    let mut config = EngineConfig::new(data_dir, destination);
    config.concurrency = args.concurrency.or(stored_concurrency).unwrap_or(3).max(1);
    config.bandwidth_limit = args.limit_rate;
    config.progress_interval = Duration::from_millis(100);
    let engine = Engine::start(config).await.map_err(|e| e.to_string())?;

    // Jobs left unfinished by an earlier run continue; their paths are not queued twice.
    let snapshot = engine.snapshot();
    let mut watched = BTreeSet::new();
    let mut unfinished_paths = BTreeSet::new();
    for job in &snapshot.jobs {
        if !job.status.is_terminal() {
            watched.insert(job.id);
            unfinished_paths.insert(PathBuf::from(&job.path));
            if job.status == JobStatus::Paused {
                engine.resume(job.id).await.map_err(|e| e.to_string())?;
            }
        }
    }
    let fresh: Vec<PathBuf> = args
        .paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .filter(|p| !unfinished_paths.contains(p))
        .collect();
    if !fresh.is_empty() {
        let report = engine.enqueue(fresh).await.map_err(|e| e.to_string())?;
        for skipped in &report.skipped {
            eprintln!("ferry: skipped {}: {}", skipped.path, skipped.reason);
        }
        watched.extend(report.jobs);
    }
    if watched.is_empty() {
        engine.shutdown().await;
        return Err("nothing to upload: no file was found in the paths given".into());
    }
    Ok((engine, watched))
}

/// Follows the engine until every watched job settles, or a signal stops it.
async fn watch(engine: Engine, watched: BTreeSet<JobId>, json: bool, mut stop: StopSignal) -> u8 {
    let (snapshot, mut events) = engine.subscribe_with_snapshot();
    let mut view = View::new(json, &watched);
    view.snapshot(&snapshot);
    let interrupted = loop {
        if view.all_settled() {
            break false;
        }
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => view.event(&event),
                Err(RecvError::Lagged(_)) => view.snapshot(&engine.snapshot()),
                Err(RecvError::Closed) => break false,
            },
            () = stop.recv() => break true,
        }
    };
    engine.shutdown().await;
    view.finish(interrupted)
}

/// What the terminal shows: a bar for the whole run and a line per settled file, or
/// JSON lines.
struct View {
    json: bool,
    watched: BTreeSet<JobId>,
    jobs: BTreeMap<JobId, JobView>,
    bar: ProgressBar,
    reported: BTreeSet<JobId>,
    /// When the run started, for the summary.
    started: Instant,
    /// Time spent with at least one job uploading (the transfer, without hashing and
    /// verifying), and since when the current stretch runs.
    uploading: Duration,
    uploading_since: Option<Instant>,
    /// Bytes of the files that went through uploading in this run.
    uploaded_bytes: u64,
}

impl View {
    fn new(json: bool, watched: &BTreeSet<JobId>) -> Self {
        let bar = if json {
            ProgressBar::hidden()
        } else {
            let bar =
                ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:32}] {bytes}/{total_bytes} · {binary_bytes_per_sec} · {eta} left · {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        };
        Self {
            json,
            watched: watched.clone(),
            jobs: BTreeMap::new(),
            bar,
            reported: BTreeSet::new(),
            started: Instant::now(),
            uploading: Duration::ZERO,
            uploading_since: None,
            uploaded_bytes: 0,
        }
    }

    fn snapshot(&mut self, snapshot: &Snapshot) {
        for job in &snapshot.jobs {
            self.job(job);
        }
        self.totals(&snapshot.totals);
        if self.json {
            print_json(&serde_json::json!({ "kind": "snapshot", "snapshot": snapshot }));
        }
    }

    fn event(&mut self, event: &EngineEvent) {
        if self.json {
            print_json(event);
        }
        match event {
            EngineEvent::Progress { progress, totals } => {
                if let Some(job) = self.jobs.get_mut(&progress.job_id) {
                    job.progress = progress.clone();
                }
                self.totals(totals);
            }
            EngineEvent::Job { job, totals } => {
                self.job(job);
                self.totals(totals);
            }
        }
    }

    fn job(&mut self, job: &JobView) {
        if !self.watched.contains(&job.id) {
            return;
        }
        let previous = self.jobs.insert(job.id, job.clone());
        if job.status == JobStatus::Uploading
            && previous.is_none_or(|p| p.status != JobStatus::Uploading)
        {
            self.uploaded_bytes += job.size;
        }
        self.time_uploads();
        if job.status.is_terminal() && self.reported.insert(job.id) && !self.json {
            let line = match job.status {
                JobStatus::Done => format!(
                    "✓ {} ({} bytes) → {}",
                    job.name,
                    job.size,
                    job.remote.as_deref().unwrap_or("?")
                ),
                JobStatus::Failed => format!(
                    "✗ {}: {}",
                    job.name,
                    job.error.as_deref().unwrap_or("failed")
                ),
                _ => format!("– {}: cancelled", job.name),
            };
            if self.bar.is_hidden() {
                eprintln!("{line}");
            } else {
                self.bar.println(line);
            }
        } else if let Some(note) = &job.note {
            self.bar.set_message(format!("{}: {note}", job.name));
        } else if job.status.is_active() {
            self.bar.set_message(format!("{} {}", job.status, job.name));
        }
    }

    /// Keeps the clock of "some job is uploading" running exactly while one is.
    fn time_uploads(&mut self) {
        let any = self.jobs.values().any(|j| j.status == JobStatus::Uploading);
        match (any, self.uploading_since) {
            (true, None) => self.uploading_since = Some(Instant::now()),
            (false, Some(since)) => {
                self.uploading += since.elapsed();
                self.uploading_since = None;
            }
            _ => {}
        }
    }

    /// The bar covers this run's files only (the queue's totals also count history).
    fn totals(&self, _queue: &QueueTotals) {
        let total: u64 = self.jobs.values().map(|job| job.size).sum();
        let done: u64 = self
            .jobs
            .values()
            .map(|job| match job.status {
                JobStatus::Done | JobStatus::Verifying => job.size,
                JobStatus::Uploading => job.progress.current,
                _ => 0,
            })
            .sum();
        self.bar.set_length(total);
        self.bar.set_position(done.min(total));
    }

    fn all_settled(&self) -> bool {
        self.watched.iter().all(|id| {
            self.jobs
                .get(id)
                .is_some_and(|job| job.status.is_terminal())
        })
    }

    /// Prints the summary and picks the exit code.
    fn finish(self, interrupted: bool) -> u8 {
        let count = |status| self.jobs.values().filter(|j| j.status == status).count();
        let (done, failed, cancelled) = (
            count(JobStatus::Done),
            count(JobStatus::Failed),
            count(JobStatus::Cancelled),
        );
        let unfinished = self.watched.len() - done - failed - cancelled;
        let elapsed = self.started.elapsed().as_secs_f64();
        let uploading = (self.uploading
            + self
                .uploading_since
                .map_or(Duration::ZERO, |since| since.elapsed()))
        .as_secs_f64();
        let rate = if uploading > 0.0 {
            self.uploaded_bytes as f64 / uploading
        } else {
            0.0
        };
        self.bar.finish_and_clear();
        if self.json {
            print_json(&serde_json::json!({
                "kind": "summary",
                "done": done,
                "failed": failed,
                "cancelled": cancelled,
                "unfinished": unfinished,
                "interrupted": interrupted,
                "elapsed_secs": elapsed,
                "uploading_secs": uploading,
                "uploaded_bytes": self.uploaded_bytes,
            }));
        } else if interrupted {
            eprintln!(
                "Stopped with {unfinished} file(s) unfinished; run the same command again to continue."
            );
        } else {
            eprintln!(
                "{done} uploaded, {failed} failed, {cancelled} cancelled in {elapsed:.1} s \
                 (sending: {uploading:.1} s at {:.1} MB/s).",
                rate / 1e6
            );
        }
        if interrupted {
            EXIT_INTERRUPTED
        } else if failed + cancelled + unfinished > 0 {
            EXIT_FAILED
        } else {
            EXIT_OK
        }
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    if serde_json::to_writer(&mut out, value).is_ok() {
        let _ = writeln!(out);
        let _ = out.flush();
    }
}
