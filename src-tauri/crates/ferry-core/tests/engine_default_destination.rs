//! A new default destination while the engine runs: files added after it upload there,
//! and jobs already in the queue finish where they were headed.

mod common;

use common::{config, dirs, names_in, pattern, start, wait_status, write_file};
use ferry_core::{JobStatus, LocalFolderDestination};
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
