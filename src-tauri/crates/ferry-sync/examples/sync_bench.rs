//! Folder sync benchmark (`scripts/bench-sync.sh` runs it): 10,000 files of 1 KiB appear
//! in a watched folder, uploaded to the Node tus server (tests/tus-server/server.mjs):
//! the time until all are queued and until all are on the server, and that each
//! arrived exactly once. Then the CPU that watching a tree of 100,000 files costs while
//! nothing changes, and how long a full rescan of it takes.
//!
//! `BENCH_FILES` (10000) and `BENCH_TREE` (100000) change the sizes; `BENCH_IDLE_SECS`
//! (10) how long the idle watch is measured.

use ferry_core::resume::SqliteLedger;
use ferry_core::secrets::MemorySecrets;
use ferry_core::{Engine, EngineConfig, EngineEvent, JobStatus, TusConfig, TusDestination};
use ferry_sync::{
    plan, walk, EntryState, FolderSync, IndexEntry, Rules, SyncIndex, WatchConfig, WatchStatus,
};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The Node tus server, stopped when dropped.
struct TusServer {
    child: Child,
    endpoint: String,
}

impl TusServer {
    fn start(store: &Path) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let mut child = Command::new("node")
            .arg(root.join("tests/tus-server/server.mjs"))
            .arg("--dir")
            .arg(store)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/tus-server/server.mjs (run `npm ci` first)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .split("\"endpoint\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the tus server printed its endpoint")
            .to_owned();
        Self { child, endpoint }
    }
}

impl Drop for TusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

async fn engine_to(endpoint: &str, data: &Path) -> Engine {
    let ledger = SqliteLedger::open(data).unwrap();
    let tus = TusDestination::new(
        TusConfig::new(url_of(endpoint)),
        Arc::new(ledger),
        Arc::new(MemorySecrets::new()),
    )
    .unwrap();
    Engine::start(EngineConfig::new(data.to_path_buf(), Arc::new(tus)))
        .await
        .unwrap()
}

fn url_of(endpoint: &str) -> url::Url {
    endpoint.parse().expect("the endpoint is a URL")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    burst(work.path(), env_number("BENCH_FILES", 10_000)).await;
    idle(work.path(), env_number("BENCH_TREE", 100_000)).await;
}

/// Files appear in a watched folder all at once: until queued, until on the server.
async fn burst(work: &Path, files: usize) {
    let store = work.join("tus-store");
    let server = TusServer::start(&store);
    let data = work.join("burst-data");
    let watched = work.join("burst");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let engine = engine_to(&server.endpoint, &data).await;
    let mut events = engine.subscribe();
    let index = Arc::new(SyncIndex::open(&data.join("sync.sqlite")).unwrap());
    let sync = FolderSync::start(engine.clone(), index, WatchConfig::new(watched.clone()));
    sync.status()
        .wait_for(|s| *s == WatchStatus::Watching)
        .await
        .unwrap();

    let start = Instant::now();
    for n in 0..files {
        let name = format!("f{:02}/file-{n:05}.bin", n % 100);
        let path = watched.join(name);
        if n < 100 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        let mut bytes = format!("file {n} ").into_bytes();
        bytes.resize(1024, b'.');
        std::fs::write(path, bytes).unwrap();
    }
    let written = start.elapsed();
    let (mut queued, mut done) = (0usize, 0usize);
    let mut all_queued = None;
    while done < files {
        let event = tokio::time::timeout(Duration::from_secs(600), events.recv())
            .await
            .unwrap_or_else(|_| panic!("{done} of {files} uploaded after 10 minutes"));
        match event {
            Ok(EngineEvent::Job { job, .. }) => match job.status {
                JobStatus::Queued => {
                    queued += 1;
                    if queued == files {
                        all_queued = Some(start.elapsed());
                    }
                }
                JobStatus::Done => done += 1,
                JobStatus::Failed => panic!("{}: {:?}", job.name, job.error),
                _ => {}
            },
            Ok(EngineEvent::Progress { .. }) => {}
            // Fell behind a burst of events: count from the engine's state instead.
            Err(_) => {
                let jobs = engine.snapshot().jobs;
                queued = jobs.len();
                done = jobs.iter().filter(|j| j.status == JobStatus::Done).count();
                if queued >= files && all_queued.is_none() {
                    all_queued = Some(start.elapsed());
                }
            }
        }
    }
    let all_done = start.elapsed();
    sync.stop().await;
    engine.shutdown().await;
    // Each file exactly once on the server: one upload (and its .json) per file.
    let uploads = std::fs::read_dir(&store)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_none())
        .count();
    println!("## folder sync: {files} files of 1 KiB appear in a watched folder (tus server on loopback)");
    println!(
        "- written by the benchmark in {:.2} s",
        written.as_secs_f64()
    );
    println!(
        "- all queued {:.2} s after the first was written",
        all_queued.unwrap_or_default().as_secs_f64()
    );
    println!(
        "- all on the tus server {:.2} s after the first was written ({:.0} files/s)",
        all_done.as_secs_f64(),
        files as f64 / all_done.as_secs_f64()
    );
    println!("- uploads on the server: {uploads} for {files} files");
    drop(server);
}

/// Watching a large tree in which nothing changes.
async fn idle(work: &Path, files: usize) {
    let watched = work.join("tree");
    let data = work.join("tree-data");
    std::fs::create_dir_all(&data).unwrap();
    let per_dir = 100;
    for n in 0..files {
        let path = watched.join(format!("d{:04}/f{n:06}.txt", n / per_dir));
        if n % per_dir == 0 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        std::fs::write(path, b"x").unwrap();
    }
    // The tree as already uploaded: what a watched folder is most of its life.
    let index = Arc::new(SyncIndex::open(&data.join("sync.sqlite")).unwrap());
    record_as_uploaded(&index, &watched);
    let engine = Engine::start(EngineConfig::new(
        data.clone(),
        Arc::new(ferry_core::LocalFolderDestination::new(work.join("unused"))),
    ))
    .await
    .unwrap();

    let started = Instant::now();
    let sync = FolderSync::start(
        engine.clone(),
        Arc::clone(&index),
        WatchConfig::new(watched.clone()),
    );
    sync.status()
        .wait_for(|s| *s == WatchStatus::Watching)
        .await
        .unwrap();
    let first_scan = started.elapsed();
    let seconds = env_number("BENCH_IDLE_SECS", 10);
    eprintln!("sync_bench: idle for {seconds} s");
    let before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    let idle_cpu = cpu_seconds() - before;
    let scan_cpu = {
        let before = cpu_seconds();
        let t = Instant::now();
        let rules = Rules::load(&watched).unwrap();
        let found = walk(&watched, &rules).unwrap();
        let planned = plan(&index, &watched, &found.files).unwrap();
        assert!(planned.uploads.is_empty());
        (t.elapsed(), cpu_seconds() - before)
    };
    sync.stop().await;
    engine.shutdown().await;
    println!(
        "## folder sync: watching {files} files in {} folders while nothing changes",
        files / per_dir
    );
    println!(
        "- start (watches set up, first scan against the index): {:.2} s",
        first_scan.as_secs_f64()
    );
    println!(
        "- CPU while idle: {:.3} s over {seconds} s ({:.2} % of one core)",
        idle_cpu,
        idle_cpu / seconds as f64 * 100.0
    );
    println!(
        "- a full rescan (hourly by default): {:.2} s, {:.2} CPU s",
        scan_cpu.0.as_secs_f64(),
        scan_cpu.1
    );
}

fn record_as_uploaded(index: &SyncIndex, watched: &Path) {
    let rules = Rules::load(watched).unwrap();
    let folder = watched.to_string_lossy().into_owned();
    for file in walk(watched, &rules).unwrap().files {
        index
            .put(&IndexEntry {
                folder: folder.clone(),
                path: file.path.clone(),
                size: file.size,
                mtime_ns: file.mtime_ns,
                hash: None,
                remote: Some(format!("remote/{}", file.path)),
                state: EntryState::Uploaded,
            })
            .unwrap();
    }
}
