//! Inputs that are empty, unreadable, missing, refused, or that change under the
//! engine's feet: each ends in a clear state with a clear reason, never a crash.

mod common;

use std::sync::Arc;

use common::{
    config, dirs, names_in, pattern, permissions_do_not_stop_reads, progress_event, start,
    wait_settled, wait_uploading, write_file,
};
use ferry_core::{DestinationPolicy, EngineConfig, JobStatus, LocalFolderDestination};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_goes_through_every_stage_to_done() {
    let dirs = dirs();
    let source = write_file(&dirs.src, "empty.txt", b"");
    let engine = start(config(&dirs)).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source]).await.unwrap().jobs[0];
    let mut events = Vec::new();
    let job = loop {
        let event = common::next_event(&mut rx).await;
        if let Some(job) = common::job_event(&event, id) {
            if job.status.is_terminal() {
                break job.clone();
            }
        }
        events.push(event);
    };
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert_eq!(
        (job.size, job.progress.current, job.progress.total),
        (0, 0, 0)
    );
    assert_eq!(job.mime.as_deref(), Some("text/plain"));
    // Every stage still ends with its (0 of 0) figure.
    let finals: Vec<_> = events
        .iter()
        .filter_map(|e| progress_event(e, id))
        .map(|p| (p.status, p.current, p.total))
        .collect();
    assert_eq!(
        finals,
        [
            (JobStatus::Hashing, 0, 0),
            (JobStatus::Parsing, 0, 0),
            (JobStatus::Uploading, 0, 0),
            (JobStatus::Verifying, 0, 0)
        ]
    );
    assert_eq!(names_in(&dirs.dest), ["empty.txt"]);
    assert_eq!(
        std::fs::metadata(dirs.dest.join("empty.txt"))
            .unwrap()
            .len(),
        0
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_missing_paths_are_skipped_with_a_reason() {
    let dirs = dirs();
    let missing = dirs.src.join("not-there.txt");
    let unreadable = dirs.src.join("locked.bin");
    let privileged = permissions_do_not_stop_reads(&dirs.src);
    if privileged {
        // Permission bits do not stop this user (root), so use an input no user can
        // upload: a named pipe, which is not a regular file.
        eprintln!("running with privileges that ignore chmod 000: using a named pipe instead");
        let status = std::process::Command::new("mkfifo")
            .arg(&unreadable)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
    } else {
        use std::os::unix::fs::PermissionsExt;
        write_file(&dirs.src, "locked.bin", b"secret");
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let fine = write_file(&dirs.src, "fine.txt", b"hello");

    let engine = start(config(&dirs)).await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![missing.clone(), unreadable.clone(), fine])
        .await
        .unwrap();
    assert_eq!(report.jobs.len(), 1);
    assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].path, missing.to_string_lossy());
    assert!(
        report.skipped[0].reason.contains("no such file"),
        "{:?}",
        report.skipped[0]
    );
    assert_eq!(report.skipped[1].path, unreadable.to_string_lossy());
    let expected = if privileged {
        "not a regular file"
    } else {
        "permission denied"
    };
    assert!(
        report.skipped[1].reason.contains(expected),
        "{:?}",
        report.skipped[1]
    );
    assert_eq!(
        wait_settled(&mut rx, report.jobs[0]).await.status,
        JobStatus::Done
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_mid_copy_fails_with_a_clear_error_and_can_be_retried() {
    let dirs = dirs();
    let bytes = pattern(512 * 1024, 8);
    let source = write_file(&dirs.src, "vanishing.bin", &bytes);
    let mut cfg = config(&dirs);
    cfg.bandwidth_limit = Some(256 * 1024);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source.clone()]).await.unwrap().jobs[0];
    wait_uploading(&mut rx, id).await;
    std::fs::remove_file(&source).unwrap();

    let job = wait_settled(&mut rx, id).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.expect("a reason");
    assert!(
        error.contains("vanishing.bin") && error.contains("deleted or moved"),
        "{error}"
    );
    assert!(names_in(&dirs.dest).is_empty(), "no partial copy left");

    // Once the file is back, retry finishes the job.
    std::fs::write(&source, &bytes).unwrap();
    engine.retry(id).await.unwrap();
    let job = wait_settled(&mut rx, id).await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert_eq!(job.error, None);
    assert_eq!(
        std::fs::read(dirs.dest.join("vanishing.bin")).unwrap(),
        bytes
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_grows_mid_copy_fails_naming_the_change() {
    let dirs = dirs();
    let source = write_file(&dirs.src, "growing.log", &pattern(256 * 1024, 9));
    let mut cfg = config(&dirs);
    cfg.bandwidth_limit = Some(256 * 1024);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source.clone()]).await.unwrap().jobs[0];
    wait_uploading(&mut rx, id).await;
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&source)
            .unwrap();
        file.write_all(b"one more line\n").unwrap();
    }
    let job = wait_settled(&mut rx, id).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(
        error.contains("growing.log") && error.contains("changed"),
        "{error}"
    );
    assert!(names_in(&dirs.dest).is_empty());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_destination_limit_is_refused_with_the_reason() {
    let dirs = dirs();
    let source = write_file(&dirs.src, "huge.bin", &pattern(4096, 10));
    let destination =
        LocalFolderDestination::new(dirs.dest.clone()).with_policy(DestinationPolicy {
            max_size: Some(1024),
            ..DestinationPolicy::default()
        });
    let engine = start(EngineConfig::new(dirs.data.clone(), Arc::new(destination))).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source]).await.unwrap().jobs[0];
    let job = wait_settled(&mut rx, id).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(
        error.contains("huge.bin") && error.contains("4.0 KiB") && error.contains("up to 1.0 KiB"),
        "{error}"
    );
    assert_eq!(job.mime.as_deref(), Some("application/octet-stream"));
    assert!(names_in(&dirs.dest).is_empty(), "nothing was sent");
    assert_eq!(engine.snapshot().totals.failed, 1);
    engine.shutdown().await;
}
