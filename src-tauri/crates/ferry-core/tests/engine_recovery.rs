//! A `kill -9` in the middle of a copy loses nothing and duplicates nothing: the next
//! start finishes the same job once, in the same database row, with no leftovers.
//!
//! The killed process is this test binary run again with [`CHILD_ENV`] set, so that
//! `recovery_child_process` plays the app that gets killed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{names_in, pattern, wait_settled, wait_uploading, write_file};
use ferry_core::{Engine, EngineConfig, JobStatus, LocalFolderDestination};

/// Set (to the test's folder) in the child process only.
const CHILD_ENV: &str = "FERRY_TEST_RECOVERY_CHILD_DIR";
/// What the child prints once the upload is under way.
const READY: &str = "FERRY-CHILD-UPLOADING";
const SIZE: usize = 2 * 1024 * 1024;

fn engine_config(root: &Path) -> EngineConfig {
    EngineConfig::new(
        root.join("data"),
        Arc::new(LocalFolderDestination::new(root.join("dest"))),
    )
}

/// The child: starts a slow upload, says so, and waits to be killed. Passes at once when
/// run as an ordinary test.
#[test]
fn recovery_child_process() {
    let Some(root) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = engine_config(&root);
        config.bandwidth_limit = Some(64 * 1024); // 32 s for the file: it never finishes
        let engine = Engine::start(config).await.unwrap();
        let mut rx = engine.subscribe();
        let report = engine
            .enqueue(vec![root.join("src/big.bin")])
            .await
            .unwrap();
        wait_uploading(&mut rx, report.jobs[0]).await;
        println!("{READY}");
        std::future::pending::<()>().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_copy_finishes_exactly_once_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let bytes = pattern(SIZE, 11);
    write_file(&root.join("src"), "big.bin", &bytes);

    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "recovery_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the test binary runs again as the child"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(READY) {
                let _ = ready_tx.send(());
            }
        }
    });
    let ready = tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(ready.is_ok(), "the child never started uploading");

    // Mid-copy: a partial file exists, and the copy is far from complete.
    let partial = names_in(&root.join("dest"));
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].ends_with(".ferry-part"), "{partial:?}");
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();
    assert!(names_in(&root.join("dest"))[0].ends_with(".ferry-part"));

    // Restart without a cap: the same job comes back queued and runs to the end.
    let engine = Engine::start(engine_config(&root)).await.unwrap();
    let (snapshot, mut rx) = engine.subscribe_with_snapshot();
    assert_eq!(snapshot.jobs.len(), 1, "{:?}", snapshot.jobs);
    let job = &snapshot.jobs[0];
    assert!(
        matches!(
            job.status,
            JobStatus::Queued
                | JobStatus::Hashing
                | JobStatus::Parsing
                | JobStatus::Uploading
                | JobStatus::Verifying
                | JobStatus::Done
        ),
        "recovered as {}",
        job.status
    );
    let id = job.id;
    if job.status != JobStatus::Done {
        let done = wait_settled(&mut rx, id).await;
        assert_eq!(done.status, JobStatus::Done, "{:?}", done.error);
    }
    assert_eq!(engine.snapshot().jobs.len(), 1);
    engine.shutdown().await;

    assert_eq!(
        names_in(&root.join("dest")),
        ["big.bin"],
        "one copy, no leftovers"
    );
    assert!(std::fs::read(root.join("dest/big.bin")).unwrap() == bytes);
    let db = rusqlite::Connection::open(root.join("data/ferry.db")).unwrap();
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT id, status FROM jobs")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(id.0, "done".to_owned())]);
}
