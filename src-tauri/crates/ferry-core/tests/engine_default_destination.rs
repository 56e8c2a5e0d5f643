//! A new default destination while the engine runs: files added after it upload there,
//! and jobs already in the queue finish where they were headed.

mod common;

use common::{config, dirs, names_in, pattern, start, wait_status, write_file};
use ferry_core::{EngineEvent, JobStatus, LocalFolderDestination};
use std::sync::Arc;

#[tokio::test]
async fn files_added_after_a_new_default_upload_there_and_queued_jobs_keep_their_destination() {
    let dirs = dirs();
    let first = write_file(&dirs.src, "first.bin", &pattern(256 * 1024, 1));
    let second = write_file(&dirs.src, "second.bin", &pattern(256 * 1024, 2));
    let elsewhere = dirs.tmp.path().join("elsewhere");
    let engine = start(config(&dirs)).await;
    let mut rx = engine.subscribe();
    let before = engine.destination_name();

    // The first job is added, then held, before the default changes.
    let a = engine.enqueue(vec![first]).await.unwrap().jobs[0];
    engine.pause(a).await.unwrap();
    wait_status(&mut rx, a, JobStatus::Paused).await;

    engine.set_destination(Arc::new(LocalFolderDestination::new(elsewhere.clone())));
    assert_ne!(engine.destination_name(), before);

    let b = engine.enqueue(vec![second]).await.unwrap().jobs[0];
    wait_status(&mut rx, b, JobStatus::Done).await;
    engine.resume(a).await.unwrap();
    wait_status(&mut rx, a, JobStatus::Done).await;

    assert_eq!(names_in(&dirs.dest), vec!["first.bin".to_owned()]);
    assert_eq!(names_in(&elsewhere), vec!["second.bin".to_owned()]);
    let remote = |id| engine.job(id).and_then(|job| job.remote).unwrap();
    assert!(remote(a).starts_with(&*dirs.dest.to_string_lossy()));
    assert!(remote(b).starts_with(&*elsewhere.to_string_lossy()));
    engine.shutdown().await;
}

#[tokio::test]
async fn more_jobs_at_once_start_at_once_and_fewer_let_the_running_ones_finish() {
    let dirs = dirs();
    let files: Vec<_> = (0..4)
        .map(|n| write_file(&dirs.src, &format!("f{n}.bin"), &pattern(512 * 1024, n)))
        .collect();
    let mut cfg = config(&dirs);
    cfg.concurrency = 1;
    // 1 MiB/s for all jobs together: each job takes a while, so several run side by side
    // once they may.
    cfg.bandwidth_limit = Some(1024 * 1024);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let jobs = engine.enqueue(files).await.unwrap().jobs;

    let most_at_once = |events: &[EngineEvent]| {
        events
            .iter()
            .map(|event| match event {
                EngineEvent::Job { totals, .. } | EngineEvent::Progress { totals, .. } => {
                    totals.active
                }
            })
            .max()
            .unwrap_or(0)
    };
    let (_, before) = wait_status(&mut rx, jobs[0], JobStatus::Uploading).await;
    assert_eq!(most_at_once(&before), 1);

    engine.set_concurrency(3);
    let (_, after) = wait_status(&mut rx, jobs[3], JobStatus::Uploading).await;
    assert_eq!(most_at_once(&after), 3);

    engine.set_concurrency(1);
    let mut settled = Vec::new();
    for id in &jobs {
        settled.push(wait_settled_from(&engine, &mut rx, *id).await);
    }
    assert!(settled.iter().all(|status| *status == JobStatus::Done));
    engine.shutdown().await;
}

/// The job's final status: at once if it already settled, otherwise when it does.
async fn wait_settled_from(
    engine: &ferry_core::Engine,
    rx: &mut tokio::sync::broadcast::Receiver<EngineEvent>,
    id: ferry_core::JobId,
) -> JobStatus {
    if let Some(job) = engine.job(id).filter(|job| job.status.is_terminal()) {
        return job.status;
    }
    common::wait_settled(rx, id).await.status
}
