//! `kill -9` at five random moments of one upload to the Node tus server: each restart
//! asks the server for its offset and continues there, less than one chunk is sent twice
//! per kill, and the file on the server is identical.
//!
//! The killed process is this test binary run again with [`CHILD_ENV`] set, so that
//! `kill_child_process` plays the app that gets killed. A proxy on loopback counts the
//! bytes that really went to the server.

mod common;
mod support_tus;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{pattern, start, tus_config, wait_settled, write_file, Dirs};
use ferry_core::{EngineEvent, JobStatus};
use rand::Rng;
use support_tus::{FaultProxy, TusServer};

/// Set (to the test's folder) in the child process only.
const CHILD_ENV: &str = "FERRY_TEST_TUS_KILL_CHILD_DIR";
/// The endpoint the child uploads to.
const ENDPOINT_ENV: &str = "FERRY_TEST_TUS_KILL_ENDPOINT";
const CHUNK: u64 = 256 * 1024;
const SIZE: usize = 8 * 1024 * 1024;
const KILLS: usize = 5;

fn dirs_at(root: &Path) -> Dirs {
    Dirs {
        tmp: tempfile::tempdir().unwrap(),
        data: root.join("data"),
        dest: root.join("dest"),
        src: root.join("src"),
    }
}

/// Chunks of [`CHUNK`], and retries patient enough to outlast the server's hold on an
/// upload whose previous writer was killed mid-request (it keeps the upload locked until
/// it notices the dead connection).
fn patient(config: &mut ferry_core::TusConfig) {
    config.chunk_size = CHUNK;
    config.retry.max_attempts = 60;
    config.retry.max_delay = Duration::from_secs(1);
}

/// The child: uploads slowly and prints every acknowledged offset until it is killed.
/// Passes at once when run as an ordinary test.
#[test]
fn kill_child_process() {
    let (Some(root), Ok(endpoint)) = (
        std::env::var_os(CHILD_ENV).map(PathBuf::from),
        std::env::var(ENDPOINT_ENV),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dirs = dirs_at(&root);
        let mut config = tus_config(&dirs, &endpoint, patient);
        config.bandwidth_limit = Some(2 * 1024 * 1024);
        config.progress_interval = Duration::from_millis(10);
        let engine = start(config).await;
        let (snapshot, mut rx) = engine.subscribe_with_snapshot();
        if snapshot.jobs.is_empty() {
            engine
                .enqueue(vec![dirs.src.join("big.bin")])
                .await
                .unwrap();
        }
        loop {
            match rx.recv().await {
                Ok(EngineEvent::Progress { progress, .. })
                    if progress.status == JobStatus::Uploading =>
                {
                    println!("ACKED {}", progress.current);
                }
                // Said, so that the parent fails with the reason instead of waiting.
                Ok(EngineEvent::Job { job, .. }) if job.status == JobStatus::Failed => {
                    println!("FAILED {}", job.error.unwrap_or_default());
                }
                _ => {}
            }
        }
    });
}

/// Kills the child if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the child until it reports an acknowledged offset of at least `target`, then
/// kills it with SIGKILL. Returns the first and the last offsets it reported.
async fn run_child_until(root: &Path, endpoint: &str, target: u64) -> (u64, u64) {
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, root)
            .env(ENDPOINT_ENV, endpoint)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the test binary runs again as the child"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let reached = tokio::task::spawn_blocking(move || {
        let mut first = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The child's first line follows the test harness's `test kill_child_process
            // ... ` on the same line, so a report is looked for anywhere in a line.
            if let Some((_, reason)) = line.split_once("FAILED ") {
                panic!("the child's upload failed: {reason}");
            }
            if let Some(acked) = line
                .split_once("ACKED ")
                .and_then(|(_, n)| n.trim().parse::<u64>().ok())
            {
                first.get_or_insert(acked);
                if acked >= target {
                    return Some((first.unwrap_or(acked), acked));
                }
            }
        }
        None
    });
    let reached = tokio::time::timeout(Duration::from_secs(60), reached)
        .await
        .expect("the child reached the target offset within 60 s")
        .unwrap()
        .expect("the child reported its progress");
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();
    reached
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_five_random_offsets_resumes_from_the_server_offset_each_time() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let endpoint = proxy.url(&server.endpoint());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let bytes = pattern(SIZE, 21);
    write_file(&root.join("src"), "big.bin", &bytes);

    // FERRY_TEST_KILL_SEED replays the kill offsets of an earlier run.
    let seed: u64 = std::env::var("FERRY_TEST_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("kill offsets drawn with seed {seed} (FERRY_TEST_KILL_SEED={seed} replays them)");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut targets: Vec<u64> = (0..KILLS)
        .map(|_| rng.random_range(SIZE as u64 / 10..SIZE as u64 * 9 / 10))
        .collect();
    targets.sort_unstable();

    let mut last_acked = 0;
    for target in targets {
        let (first, acked) = run_child_until(&root, &endpoint, target).await;
        // The restarted process continued from at least what the server had
        // acknowledged before the kill: it never started over.
        assert!(
            first >= last_acked,
            "a restart reported {first} after {last_acked} had been acknowledged"
        );
        let on_server = server
            .file_by_name("big.bin")
            .expect("the upload exists")
            .offset;
        assert!(
            on_server >= acked,
            "the server has {on_server}, {acked} were acknowledged"
        );
        last_acked = acked;
    }

    // A last start, in this process, finishes the upload.
    let dirs = dirs_at(&root);
    let engine = start(tus_config(&dirs, &endpoint, patient)).await;
    let (snapshot, mut rx) = engine.subscribe_with_snapshot();
    assert_eq!(snapshot.jobs.len(), 1, "one job throughout");
    let id = snapshot.jobs[0].id;
    let job = if snapshot.jobs[0].status == JobStatus::Done {
        snapshot.jobs[0].clone()
    } else {
        wait_settled(&mut rx, id).await
    };
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);

    let uploads = server.uploaded_files();
    assert_eq!(uploads.len(), 1, "every restart continued the same upload");
    assert!(uploads[0].bytes() == bytes, "the server's copy differs");
    // Bytes that crossed the proxy: the file once, less than a chunk again per kill, and
    // the requests' headers (well under 64 KiB for ~50 requests).
    let sent = proxy.bytes_up();
    let allowance = SIZE as u64 + KILLS as u64 * CHUNK + 64 * 1024;
    assert!(
        sent < allowance,
        "{sent} bytes went up for a {SIZE}-byte file"
    );
}
