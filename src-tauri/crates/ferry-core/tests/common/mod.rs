//! Helpers shared by the integration tests: real files in temporary folders, an engine
//! on top of them, and waiting for engine events with a timeout guard instead of sleeps.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_core::{
    Engine, EngineConfig, EngineEvent, JobId, JobProgress, JobStatus, JobView,
    LocalFolderDestination,
};
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// Longest wait for any single event before a test fails instead of hanging.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A test's folders: `data` for the database, `dest` for uploads, `src` for sources.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub dest: PathBuf,
    pub src: PathBuf,
}

pub fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let data = tmp.path().join("data");
    let dest = tmp.path().join("dest");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("source folder");
    Dirs {
        tmp,
        data,
        dest,
        src,
    }
}

/// Deterministic, incompressible-looking bytes (xorshift), different for each seed.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("parent folder");
    }
    std::fs::write(&path, bytes).expect("write source file");
    path
}

pub fn config(dirs: &Dirs) -> EngineConfig {
    EngineConfig::new(
        dirs.data.clone(),
        Arc::new(LocalFolderDestination::new(dirs.dest.clone())),
    )
}

pub async fn start(config: EngineConfig) -> Engine {
    Engine::start(config).await.expect("engine starts")
}

/// Names in `dir`, sorted; empty when the folder does not exist.
pub fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The next event, failing the test after [`EVENT_TIMEOUT`].
pub async fn next_event(rx: &mut Receiver<EngineEvent>) -> EngineEvent {
    let received = tokio::time::timeout(EVENT_TIMEOUT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no engine event within {EVENT_TIMEOUT:?}"));
    match received {
        Ok(event) => event,
        Err(RecvError::Lagged(n)) => panic!("the test fell {n} events behind"),
        Err(RecvError::Closed) => panic!("the engine's event stream closed"),
    }
}

/// Events up to and including the first one `stop` accepts.
pub async fn collect_until(
    rx: &mut Receiver<EngineEvent>,
    mut stop: impl FnMut(&EngineEvent) -> bool,
) -> Vec<EngineEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(rx).await;
        let done = stop(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// The job carried by a job event about `id`.
pub fn job_event(event: &EngineEvent, id: JobId) -> Option<&JobView> {
    match event {
        EngineEvent::Job { job, .. } if job.id == id => Some(job),
        _ => None,
    }
}

/// The figures carried by a progress event about `id`.
pub fn progress_event(event: &EngineEvent, id: JobId) -> Option<&JobProgress> {
    match event {
        EngineEvent::Progress { progress, .. } if progress.job_id == id => Some(progress),
        _ => None,
    }
}

/// Waits until job `id` reaches `status`; returns it and every event seen on the way.
pub async fn wait_status(
    rx: &mut Receiver<EngineEvent>,
    id: JobId,
    status: JobStatus,
) -> (JobView, Vec<EngineEvent>) {
    let events = collect_until(rx, |e| job_event(e, id).is_some_and(|j| j.status == status)).await;
    let job = job_event(events.last().expect("an event"), id)
        .expect("the job event")
        .clone();
    (job, events)
}

/// Waits until job `id` ends (done, failed or cancelled).
pub async fn wait_settled(rx: &mut Receiver<EngineEvent>, id: JobId) -> JobView {
    let events = collect_until(rx, |e| {
        job_event(e, id).is_some_and(|j| j.status.is_terminal())
    })
    .await;
    job_event(events.last().expect("an event"), id)
        .expect("the job event")
        .clone()
}

/// Waits until every job in `ids` has ended, whatever order they end in; returns them
/// in the order of `ids`.
pub async fn wait_all_settled(rx: &mut Receiver<EngineEvent>, ids: &[JobId]) -> Vec<JobView> {
    let mut settled: Vec<Option<JobView>> = vec![None; ids.len()];
    while settled.iter().any(Option::is_none) {
        if let EngineEvent::Job { job, .. } = next_event(rx).await {
            if job.status.is_terminal() {
                if let Some(slot) = ids.iter().position(|id| *id == job.id) {
                    settled[slot] = Some(job);
                }
            }
        }
    }
    settled.into_iter().map(Option::unwrap).collect()
}

/// Waits until job `id` has uploaded at least one byte.
pub async fn wait_uploading(rx: &mut Receiver<EngineEvent>, id: JobId) {
    collect_until(rx, |e| {
        progress_event(e, id).is_some_and(|p| p.status == JobStatus::Uploading && p.current > 0)
    })
    .await;
}

/// True when the current process may read files whose permissions forbid it (root).
pub fn permissions_do_not_stop_reads(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join(".probe");
    std::fs::write(&probe, b"x").expect("probe file");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let readable = std::fs::File::open(&probe).is_ok();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::remove_file(&probe).expect("remove probe");
    readable
}

/// A retry schedule short enough for tests: the same shape as the default, in
/// milliseconds instead of seconds.
pub fn quick_retries() -> ferry_core::destination::tus::RetryPolicy {
    ferry_core::destination::tus::RetryPolicy {
        first_delays: [0, 50, 100, 200].map(Duration::from_millis).to_vec(),
        max_delay: Duration::from_millis(500),
        max_attempts: 8,
    }
}

/// A tus destination for `endpoint` with test defaults (quick retries), its resume
/// ledger in `data`, after `adjust` had its say.
pub fn tus_destination(
    endpoint: &str,
    data: &Path,
    secrets: Arc<ferry_core::secrets::MemorySecrets>,
    adjust: impl FnOnce(&mut ferry_core::TusConfig),
) -> Arc<ferry_core::TusDestination> {
    let mut config = ferry_core::TusConfig::new(endpoint.parse().expect("endpoint URL"));
    config.retry = quick_retries();
    adjust(&mut config);
    let ledger = ferry_core::resume::SqliteLedger::open(data).expect("resume ledger");
    Arc::new(
        ferry_core::TusDestination::new(config, Arc::new(ledger), secrets)
            .expect("tus destination"),
    )
}

/// An engine configuration uploading to a tus server.
pub fn tus_config(
    dirs: &Dirs,
    endpoint: &str,
    adjust: impl FnOnce(&mut ferry_core::TusConfig),
) -> EngineConfig {
    let destination = tus_destination(endpoint, &dirs.data, Arc::default(), adjust);
    EngineConfig::new(dirs.data.clone(), destination)
}
