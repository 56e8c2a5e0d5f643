//! Benchmark of the progress server on loopback (a program, not a test):
//!
//! - fan-out: progress of 100 concurrent jobs to 1, 10, 100 and 1,000 clients:
//!   messages and job figures delivered per second, p50/p99 latency from a figure's
//!   emission to each client, CPU seconds, and whether every terminal event reached
//!   every client;
//! - memory per idle connection (server side: the clients run in a child process);
//! - connection time (TCP connect to welcome) and reconnection time after a restart;
//! - upload throughput of the real engine (local-folder destination) with 50 clients
//!   watching (in a child process, as real clients are), against none, as a ratio; and
//!   the CPU those watchers cost, replaying a recorded run's events without the upload.
//!
//! `cargo run --release -p ferry-ws --example ws_bench` (or `scripts/bench-ws.sh`).

#![allow(missing_docs, clippy::too_many_lines)]

use ferry_core::{
    EngineConfig, EngineEvent, JobId, JobProgress, JobStatus, JobView, LocalFolderDestination,
    QueueTotals, Snapshot,
};
use ferry_ws::backend::CommandFuture;
use ferry_ws::{Backend, Client, Command, Headless, Server, ServerConfig, ServerMessage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_us() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e6
}

struct Feed {
    state: Mutex<Snapshot>,
    events: broadcast::Sender<EngineEvent>,
}

impl Backend for Feed {
    fn subscribe_with_snapshot(&self) -> (Snapshot, broadcast::Receiver<EngineEvent>) {
        let state = self.state.lock().unwrap();
        (state.clone(), self.events.subscribe())
    }
    fn run(&self, _command: Command) -> CommandFuture<'_> {
        Box::pin(async {
            Err(ferry_ws::protocol::ProtocolError {
                code: ferry_ws::protocol::ErrorCode::CommandFailed,
                message: "benchmark backend".into(),
            })
        })
    }
}

fn view(id: i64, status: JobStatus) -> JobView {
    JobView {
        id: JobId(id),
        path: format!("/bench/file-{id}.bin"),
        name: format!("file-{id}.bin"),
        size: 1 << 30,
        status,
        progress: progress(id, status, 0),
        mime: None,
        hash: None,
        remote: None,
        error: None,
        note: None,
        // The benchmark carries the emit time here (µs) to measure job-message latency.
        created_at_ms: now_us() as u64,
    }
}

fn progress(id: i64, status: JobStatus, current: u64) -> JobProgress {
    JobProgress {
        job_id: JobId(id),
        status,
        current,
        total: 1 << 30,
        // The benchmark carries the emit time here to measure latency.
        speed: now_us(),
        eta_secs: None,
        sent: None,
    }
}

impl Feed {
    fn new() -> Arc<Self> {
        let mut snapshot = Snapshot::default();
        for id in 1..=100 {
            snapshot.jobs.push(view(id, JobStatus::Uploading));
        }
        Arc::new(Self {
            state: Mutex::new(snapshot),
            events: broadcast::channel(1 << 16).0,
        })
    }
    /// A feed with no jobs, for replaying a recorded run.
    fn empty() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Snapshot::default()),
            events: broadcast::channel(1 << 12).0,
        })
    }
    fn emit(&self, event: EngineEvent) {
        let _guard = self.state.lock().unwrap();
        let _ = self.events.send(event);
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The scheduler's run time of each of this process's threads, to the nanosecond
/// (`/proc/self/stat` counts in 10 ms ticks, too coarse for the few milliseconds a run of
/// watchers costs).
struct ThreadTimes(std::collections::HashMap<String, u64>);

impl ThreadTimes {
    fn now() -> Self {
        let mut times = std::collections::HashMap::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let ns = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok());
            if let Some(ns) = ns {
                times.insert(task.file_name().to_string_lossy().into_owned(), ns);
            }
        }
        Self(times)
    }

    /// CPU seconds spent since `earlier` by the threads alive now: a thread that ended in
    /// between (an idle blocking-pool thread, say) takes its whole past with it, so it is
    /// left out rather than subtracted.
    fn since(&self, earlier: &Self) -> f64 {
        let ns: u64 = self
            .0
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(earlier.0.get(tid).copied().unwrap_or(0)))
            .sum();
        ns as f64 / 1e9
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn fanout(clients: usize, seconds: u64) {
    let feed = Feed::new();
    let server = Server::start_with_backend(
        feed.clone(),
        ServerConfig {
            max_connections: clients + 16,
            max_pending_handshakes: clients + 16,
            client_queue: 4096,
            progress_per_sec: std::env::var("BENCH_PROGRESS_PER_SEC")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20),
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    let info = server.connection_info().clone();
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let job_latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let delivered = Arc::new(AtomicU64::new(0));
    let figures = Arc::new(AtomicU64::new(0));
    let terminals = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut client = loop {
            match Client::connect(&info).await {
                Ok(client) => break client,
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        client.next_event().await.unwrap();
        let latencies = latencies.clone();
        let job_latencies = job_latencies.clone();
        let delivered = delivered.clone();
        let figures = figures.clone();
        let terminals = terminals.clone();
        tasks.push(tokio::spawn(async move {
            // Room for every figure of the run, so the measuring does not reallocate.
            let mut mine = Vec::with_capacity(100 * 25 * 4);
            let mut mine_jobs = Vec::with_capacity(100);
            let mut done = 0;
            while done < 100 {
                match client.next_event().await {
                    Ok(ServerMessage::Progress { progress, .. }) => {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        figures.fetch_add(progress.len() as u64, Ordering::Relaxed);
                        // Every figure's latency: from its emission to this client.
                        let at = now_us();
                        mine.extend(progress.iter().map(|p| at - p.speed));
                    }
                    Ok(ServerMessage::Job { job, .. }) if job.status == JobStatus::Done => {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        // Job messages are never held back: this is the transport alone.
                        mine_jobs.push(now_us() - job.created_at_ms as f64);
                        done += 1;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            terminals.fetch_add(done, Ordering::Relaxed);
            latencies.lock().unwrap().extend(mine);
            job_latencies.lock().unwrap().extend(mine_jobs);
        }));
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    // 100 independent jobs, each reporting every 50 ms as the engine does by default,
    // spread over the interval: 2,000 events a second into the hub, 2 every millisecond.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut step = 0u64;
    while t0.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        step += 1;
        for n in 0..2 {
            let id = i64::try_from((step * 2 + n) % 100 + 1).unwrap_or(1);
            feed.emit(EngineEvent::Progress {
                progress: progress(id, JobStatus::Uploading, step * 1000),
                totals: QueueTotals::default(),
            });
        }
    }
    for id in 1..=100 {
        feed.emit(EngineEvent::Job {
            job: view(id, JobStatus::Done),
            totals: QueueTotals::default(),
        });
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let mut job_lat = job_latencies.lock().unwrap().clone();
    job_lat.sort_by(f64::total_cmp);
    let lost = (clients as u64 * 100).saturating_sub(terminals.load(Ordering::Relaxed));
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!(
            "{clients} clients: {elapsed:.2} s wall, {} messages, {} figures",
            delivered.load(Ordering::Relaxed),
            figures.load(Ordering::Relaxed)
        );
    }
    println!(
        "| {clients} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {lost} |",
        delivered.load(Ordering::Relaxed) as f64 / elapsed,
        figures.load(Ordering::Relaxed) as f64 / elapsed,
        percentile(&lat, 0.50) / 1000.0,
        percentile(&lat, 0.99) / 1000.0,
        percentile(&job_lat, 0.50) / 1000.0,
        percentile(&job_lat, 0.99) / 1000.0,
        cpu,
    );
    server.shutdown().await;
}

async fn idle_memory(n: usize) {
    let feed = Feed::new();
    let server = Server::start_with_backend(
        feed,
        ServerConfig {
            max_connections: n + 16,
            max_pending_handshakes: n + 16,
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    let info = server.connection_info();
    // Warm the server up with a few connections, then measure only its side.
    for _ in 0..20 {
        let mut c = Client::connect(info).await.unwrap();
        c.next_event().await.unwrap();
        c.close().await.unwrap();
    }
    let before = rss_bytes();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["idle-clients", &info.url, &info.token, &n.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut watch = server.watch_connections();
    watch.wait_for(|open| *open == n as u64).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per = (rss_bytes().saturating_sub(before)) as f64 / n as f64;
    println!(
        "memory per idle connection (server side, {n} connections): {:.1} KiB",
        per / 1024.0
    );
    drop(child.stdin.take());
    let _ = child.wait();
    server.shutdown().await;
}

async fn idle_clients(url: String, token: String, n: usize) {
    let info = ferry_ws::ConnectionInfo { url, token, pid: 0 };
    let mut clients = Vec::new();
    for _ in 0..n {
        let mut c = Client::connect(&info).await.unwrap();
        c.next_event().await.unwrap();
        clients.push(c);
    }
    // Hold them until the parent closes stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
}

/// The child process of an upload run: `count` clients that follow the queue until
/// `files` jobs have ended.
async fn watch_clients(url: String, token: String, count: usize, files: usize) {
    let info = ferry_ws::ConnectionInfo { url, token, pid: 0 };
    let mut tasks = Vec::new();
    for _ in 0..count {
        let mut c = Client::connect(&info).await.unwrap();
        c.next_event().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < files {
                match c.next_event().await {
                    Ok(message) if message.needs_ack() => done += 1,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            c
        }));
    }
    println!("ready");
    let cpu = ThreadTimes::now();
    let mut clients = Vec::new();
    for task in tasks {
        clients.extend(task.await.ok());
    }
    // The parent reads this line: the CPU the watchers spent on the run. The clients
    // close after it, so that closing is not counted on either side.
    println!("cpu {}", ThreadTimes::now().since(&cpu));
    drop(clients);
}

async fn connection_times() {
    let feed = Feed::new();
    let server = Server::start_with_backend(feed.clone(), ServerConfig::default())
        .await
        .unwrap();
    let info = server.connection_info().clone();
    let mut times = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let mut c = Client::connect(&info).await.unwrap();
        c.next_event().await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        c.close().await.unwrap();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "connection time (TCP connect to welcome, 100 jobs in the snapshot): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    // Reconnection after a restart: from the new server's start to the welcome.
    let mut client = Client::connect(&info).await.unwrap();
    client.next_event().await.unwrap();
    let mut restarts = Vec::new();
    let mut server = server;
    for _ in 0..20 {
        server.shutdown().await;
        let _ = client.next_event().await; // the 1001 close
        let t = Instant::now();
        server = Server::start_with_backend(feed.clone(), ServerConfig::default())
            .await
            .unwrap();
        client.reconnect(server.connection_info()).await.unwrap();
        loop {
            if let ServerMessage::Welcome { .. } = client.next_event().await.unwrap() {
                break;
            }
        }
        restarts.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    restarts.sort_by(f64::total_cmp);
    println!(
        "reconnection after a server restart (start to welcome in the new epoch): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&restarts, 0.5),
        percentile(&restarts, 0.99)
    );
    server.shutdown().await;
}

/// Watchers in a child process, as the webview and other clients are: they compete with
/// the engine for the same two cores through the operating system's scheduler rather
/// than inside the engine's own task queue.
struct Watchers {
    child: std::process::Child,
    /// The child's lines: `ready` once every watcher has its welcome, then `cpu S`.
    lines: std::sync::mpsc::Receiver<String>,
}

impl Watchers {
    fn spawn(info: &ferry_ws::ConnectionInfo, count: usize, files: usize) -> Self {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "watch-clients",
                &info.url,
                &info.token,
                &count.to_string(),
                &files.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = send.send(line);
            }
        });
        let watchers = Self { child, lines };
        assert_eq!(
            watchers.lines.recv().as_deref(),
            Ok("ready"),
            "the watchers did not start"
        );
        watchers
    }

    /// Waits for every watcher to see every job end; returns the CPU seconds they spent.
    /// They are still connected when it returns: [`Watchers::close`] ends them.
    fn seen_all(&mut self) -> f64 {
        let lines = &self.lines;
        tokio::task::block_in_place(|| {
            lines
                .iter()
                .find_map(|line| line.strip_prefix("cpu ").and_then(|s| s.parse().ok()))
                .unwrap_or(f64::NAN)
        })
    }

    async fn close(mut self) {
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap();
    }
}

/// One upload run: throughput, the engine process's CPU, and the engine's events with
/// when each came (to replay them to watchers without the upload).
struct UploadRun {
    mib_per_sec: f64,
    cpu_secs: f64,
    trace: Vec<(Duration, EngineEvent)>,
}

/// A scratch folder in memory (tmpfs) where there is one: the kernel's writeback of the
/// uploads' copies to a disk made runs of the same setup differ by two times.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap()
}

/// `files` source files of `size` bytes each, written once for every run of a comparison.
fn write_sources(dir: &std::path::Path, files: usize, size: usize) -> Vec<std::path::PathBuf> {
    let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    (0..files)
        .map(|n| {
            let p = dir.join(format!("f{n}.bin"));
            std::fs::write(&p, &bytes).unwrap();
            p
        })
        .collect()
}

async fn upload_run(watchers: usize, paths: &[std::path::PathBuf], size: usize) -> UploadRun {
    let files = paths.len();
    let dir = scratch_dir();
    let destination = Arc::new(LocalFolderDestination::new(dir.path().join("out")));
    let headless = Headless::start(
        EngineConfig::new(dir.path().join("data"), destination),
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let info = headless.server.connection_info().clone();
    let clients = (watchers > 0).then(|| Watchers::spawn(&info, watchers, files));
    let mut events = headless.engine.subscribe();
    let mut trace = Vec::new();
    let cpu = cpu_seconds();
    let t = Instant::now();
    headless.engine.enqueue(paths.to_vec()).await.unwrap();
    let mut finished = 0;
    while finished < files {
        if let Ok(event) = events.recv().await {
            if matches!(&event, EngineEvent::Job { job, .. } if job.status.is_terminal()) {
                finished += 1;
            }
            trace.push((t.elapsed(), event));
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu_secs = cpu_seconds() - cpu;
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!("{watchers} watchers: {secs:.3} s, {cpu_secs:.3} CPU s");
    }
    if let Some(mut clients) = clients {
        let spent = clients.seen_all();
        clients.close().await;
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            let m = headless.server.metrics();
            eprintln!(
                "  watchers {spent:.3} CPU s; server: {} messages out ({} bytes), {} in",
                m.messages_out, m.bytes_out, m.messages_in
            );
        }
    }
    headless.shutdown().await;
    UploadRun {
        mib_per_sec: (files * size) as f64 / secs / (1024.0 * 1024.0),
        cpu_secs,
        trace,
    }
}

/// What watching a run costs.
struct ReplayCost {
    /// CPU seconds of this process (the server) while the watchers watched.
    server: f64,
    /// CPU seconds of the watchers' process meanwhile.
    watchers: f64,
}

/// Replays a recorded run's engine events, at their original times, through a server
/// with `watchers` clients, without the upload's own work in the way. Both sides are
/// measured from the moment every watcher has its welcome until every watcher has seen
/// every job end: connecting and closing are left out, as they are from the upload runs
/// (whose watchers connect before the upload starts).
async fn replay_cost(
    trace: &[(Duration, EngineEvent)],
    watchers: usize,
    files: usize,
) -> ReplayCost {
    let feed = Feed::empty();
    let server = Server::start_with_backend(feed.clone(), ServerConfig::default())
        .await
        .unwrap();
    let mut clients = Watchers::spawn(server.connection_info(), watchers, files);
    let before = ThreadTimes::now();
    let start = tokio::time::Instant::now();
    for (at, event) in trace {
        tokio::time::sleep_until(start + *at).await;
        feed.emit(event.clone());
    }
    let spent = clients.seen_all();
    let cost = ReplayCost {
        server: ThreadTimes::now().since(&before),
        watchers: spent,
    };
    clients.close().await;
    server.shutdown().await;
    cost
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("idle-clients") {
        idle_clients(args[2].clone(), args[3].clone(), args[4].parse().unwrap()).await;
        return;
    }
    if args.get(1).map(String::as_str) == Some("watch-clients") {
        let (count, files) = (args[4].parse().unwrap(), args[5].parse().unwrap());
        watch_clients(args[2].clone(), args[3].clone(), count, files).await;
        return;
    }
    let _ = START.get_or_init(Instant::now);
    // BENCH_UPLOAD_ONLY runs the upload comparison alone; BENCH_FANOUT_ONLY skips it.
    if std::env::var_os("BENCH_UPLOAD_ONLY").is_none() {
        sections().await;
    }
    if std::env::var_os("BENCH_FANOUT_ONLY").is_some() {
        return;
    }
    // Many short jobs (stage changes dominate what watchers receive), then a few long
    // ones (the steady batches dominate).
    let sets: Vec<(usize, usize)> = std::env::var("BENCH_UPLOADS").ok().map_or_else(
        || vec![(24, 16), (4, 256)],
        |v| {
            v.split(',')
                .filter_map(|set| set.split_once('x'))
                .filter_map(|(n, m)| Some((n.parse().ok()?, m.parse().ok()?)))
                .collect()
        },
    );
    for (files, mib) in sets {
        upload_comparison(files, mib).await;
    }
}

/// Throughput of `files` uploads of `mib` MiB with no watcher and with 50, in
/// interleaved pairs so that a change in the machine's load meets both sides alike; then
/// what the 50 watchers cost in CPU, replaying a recorded run without the upload.
async fn upload_comparison(files: usize, mib: usize) {
    let size = mib * 1024 * 1024;
    let pairs: usize = env_number("BENCH_UPLOAD_PAIRS", 15);
    let mut none = Vec::new();
    let mut fifty = Vec::new();
    let mut ratios = Vec::new();
    let mut upload_cpu = Vec::new();
    let mut trace = Vec::new();
    let sources = scratch_dir();
    let paths = write_sources(sources.path(), files, size);
    for _ in 0..pairs {
        let alone = upload_run(0, &paths, size).await;
        let watched = upload_run(50, &paths, size).await;
        ratios.push(watched.mib_per_sec / alone.mib_per_sec);
        none.push(alone.mib_per_sec);
        fifty.push(watched.mib_per_sec);
        upload_cpu.push(alone.cpu_secs);
        trace = alone.trace;
    }
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!("no watchers {none:.0?} MiB/s; 50 watchers {fifty:.0?} MiB/s");
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "upload throughput ({files} x {mib} MiB, local folder): no watchers {:.0} MiB/s, 50 watchers {:.0} MiB/s; ratio {:.3} (median of {pairs} interleaved pairs' ratios)",
        median(none),
        median(fifty),
        median(ratios),
    );
    let replays: usize = env_number("BENCH_REPLAYS", 10);
    // The same replays with no watcher give what the server spends anyway (the hub
    // numbering and encoding the messages), which is taken off.
    let mut server = [0.0; 2];
    let mut watchers = 0.0;
    for (n, count) in [0, 50].into_iter().enumerate() {
        for _ in 0..replays {
            let cost = replay_cost(&trace, count, files).await;
            server[n] += cost.server / replays as f64;
            if count > 0 {
                watchers += cost.watchers / replays as f64;
            }
        }
    }
    let server = (server[1] - server[0]).max(0.0);
    let upload = median(upload_cpu);
    println!(
        "  what 50 watchers cost, the run's events replayed without the upload (mean of {replays}): server {:.1} ms, watchers {:.1} ms of CPU; the upload alone {:.0} ms; were both cores busy, that would leave {:.3} of the throughput",
        server * 1e3,
        watchers * 1e3,
        upload * 1e3,
        upload / (upload + server + watchers),
    );
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Memory, fan-out and connection times (everything but the upload runs).
async fn sections() {
    // First, while the allocator holds no freed connection memory to reuse.
    idle_memory(1000).await;
    println!("## fan-out: 100 jobs, 2,000 progress events/s into the hub, 3 s per row");
    println!(
        "| clients | messages/s delivered | job figures/s delivered | figure p50 ms | figure p99 ms | job message p50 ms | job message p99 ms | CPU s | terminal events lost |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let rows: Vec<usize> = std::env::var("BENCH_CLIENTS").ok().map_or_else(
        || vec![1, 10, 100, 1000],
        |v| v.split(',').filter_map(|n| n.parse().ok()).collect(),
    );
    for clients in rows {
        fanout(clients, 3).await;
    }
    if std::env::var_os("BENCH_FANOUT_ONLY").is_none() {
        connection_times().await;
    }
}
