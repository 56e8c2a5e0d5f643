//! Steering jobs: cancel, pause, resume, retry, pause all and resume all, shutdown, and
//! the refusals for commands that do not apply.

mod common;

use common::{
    config, dirs, job_event, names_in, pattern, progress_event, start, wait_settled, wait_status,
    wait_uploading, write_file,
};
use ferry_core::{CoreError, JobId, JobStatus};

/// Slow enough that a test can act while a copy is under way: 128 KiB/s.
const SLOW: u64 = 128 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_copy_and_leaves_nothing_at_the_destination() {
    let dirs = dirs();
    let source = write_file(&dirs.src, "movie.bin", &pattern(1024 * 1024, 3));
    let mut cfg = config(&dirs);
    cfg.bandwidth_limit = Some(SLOW); // 8 s for the whole file
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source]).await.unwrap().jobs[0];

    wait_uploading(&mut rx, id).await;
    assert_eq!(
        names_in(&dirs.dest).len(),
        1,
        "a partial copy is being written"
    );
    let view = engine.cancel(id).await.expect("cancel");
    assert_eq!(view.status, JobStatus::Cancelled);
    assert_eq!(view.remote, None);
    assert!(
        names_in(&dirs.dest).is_empty(),
        "left behind: {:?}",
        names_in(&dirs.dest)
    );

    // The copy stopped: the job's last figures are short of the file.
    let events: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    let last_upload = events
        .iter()
        .filter_map(|e| progress_event(e, id))
        .filter(|p| p.status == JobStatus::Uploading)
        .map(|p| p.current)
        .max()
        .unwrap_or(0);
    assert!(last_upload < 1024 * 1024);
    assert!(
        events
            .iter()
            .filter_map(|e| job_event(e, id))
            .any(|j| j.status == JobStatus::Cancelled),
        "the cancellation was announced"
    );

    // Cancelling again is harmless; the record says cancelled after a restart too.
    assert_eq!(
        engine.cancel(id).await.unwrap().status,
        JobStatus::Cancelled
    );
    engine.shutdown().await;
    let engine = start(config(&dirs)).await;
    assert_eq!(engine.job(id).unwrap().status, JobStatus::Cancelled);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_mid_copy_then_resume_ends_with_an_identical_copy() {
    let dirs = dirs();
    let bytes = pattern(256 * 1024, 4);
    let source = write_file(&dirs.src, "notes.bin", &bytes);
    let mut cfg = config(&dirs);
    cfg.bandwidth_limit = Some(SLOW); // 2 s per run
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source]).await.unwrap().jobs[0];

    wait_uploading(&mut rx, id).await;
    let paused = engine.pause(id).await.expect("pause");
    assert_eq!(paused.status, JobStatus::Paused);
    assert!(
        names_in(&dirs.dest).is_empty(),
        "partial copy removed on pause"
    );
    // Pausing twice is harmless.
    assert_eq!(engine.pause(id).await.unwrap().status, JobStatus::Paused);
    assert_eq!(engine.snapshot().totals.paused, 1);

    let resumed = engine.resume(id).await.expect("resume");
    assert!(!resumed.status.is_terminal());
    // The pipeline starts over from hashing.
    let (_, events) = wait_status(&mut rx, id, JobStatus::Hashing).await;
    assert!(events
        .iter()
        .filter_map(|e| job_event(e, id))
        .any(|j| j.status == JobStatus::Paused));
    let done = wait_settled(&mut rx, id).await;
    assert_eq!(done.status, JobStatus::Done, "{:?}", done.error);
    assert_eq!(names_in(&dirs.dest), ["notes.bin"]);
    assert_eq!(std::fs::read(dirs.dest.join("notes.bin")).unwrap(), bytes);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_can_be_paused_and_commands_that_do_not_apply_are_refused() {
    let dirs = dirs();
    let first = write_file(&dirs.src, "first.bin", &pattern(512 * 1024, 5));
    let second = write_file(&dirs.src, "second.bin", &pattern(1000, 6));
    let mut cfg = config(&dirs);
    cfg.concurrency = 1;
    cfg.bandwidth_limit = Some(SLOW);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let ids = engine.enqueue(vec![first, second]).await.unwrap().jobs;
    let (first, second) = (ids[0], ids[1]);

    wait_uploading(&mut rx, first).await;
    assert_eq!(engine.job(second).unwrap().status, JobStatus::Queued);
    assert_eq!(
        engine.pause(second).await.unwrap().status,
        JobStatus::Paused
    );
    assert!(matches!(
        engine.retry(second).await,
        Err(CoreError::InvalidState {
            status: JobStatus::Paused,
            ..
        })
    ));
    assert_eq!(
        engine.cancel(first).await.unwrap().status,
        JobStatus::Cancelled
    );
    // Nothing runs while the only other job is paused.
    assert_eq!(engine.snapshot().totals.active, 0);
    assert!(matches!(
        engine.resume(first).await,
        Err(CoreError::InvalidState { .. })
    ));

    engine.resume(second).await.unwrap();
    let done = wait_settled(&mut rx, second).await;
    assert_eq!(done.status, JobStatus::Done);
    let err = engine.pause(second).await.unwrap_err();
    assert!(err.to_string().contains("already uploaded"), "{err}");
    assert!(matches!(
        engine.cancel(second).await,
        Err(CoreError::InvalidState { .. })
    ));
    assert!(matches!(
        engine.pause(JobId(999)).await,
        Err(CoreError::UnknownJob(JobId(999)))
    ));

    // A cancelled job can be retried, and then runs to the end.
    assert_eq!(engine.retry(first).await.unwrap().status, JobStatus::Queued);
    let done = wait_settled(&mut rx, first).await;
    assert_eq!(done.status, JobStatus::Done, "{:?}", done.error);
    assert_eq!(names_in(&dirs.dest), ["first.bin", "second.bin"]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_running_jobs_to_the_queue_and_a_restart_finishes_them() {
    let dirs = dirs();
    let bytes = pattern(512 * 1024, 7);
    let source = write_file(&dirs.src, "data.bin", &bytes);
    let mut cfg = config(&dirs);
    cfg.bandwidth_limit = Some(SLOW);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source.clone()]).await.unwrap().jobs[0];
    wait_uploading(&mut rx, id).await;

    engine.shutdown().await;
    assert_eq!(engine.job(id).unwrap().status, JobStatus::Queued);
    assert!(
        names_in(&dirs.dest).is_empty(),
        "no partial copy after shutdown"
    );
    assert!(matches!(
        engine.enqueue(vec![source]).await,
        Err(CoreError::ShutDown)
    ));
    assert!(matches!(engine.pause(id).await, Err(CoreError::ShutDown)));
    engine.shutdown().await; // twice is fine

    let engine = start(config(&dirs)).await;
    let (snapshot, mut rx) = engine.subscribe_with_snapshot();
    assert_eq!(snapshot.jobs.len(), 1);
    if snapshot.jobs[0].status != JobStatus::Done {
        let done = wait_settled(&mut rx, id).await;
        assert_eq!(done.status, JobStatus::Done, "{:?}", done.error);
    }
    assert_eq!(names_in(&dirs.dest), ["data.bin"]);
    assert_eq!(std::fs::read(dirs.dest.join("data.bin")).unwrap(), bytes);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_all_stops_running_and_queued_jobs_and_resume_all_finishes_them() {
    let dirs = dirs();
    let sources: Vec<_> = (0..3u8)
        .map(|i| {
            write_file(
                &dirs.src,
                &format!("batch-{i}.bin"),
                &pattern(256 * 1024, 20 + u64::from(i)),
            )
        })
        .collect();
    let done_name = write_file(&dirs.src, "tiny.txt", b"already done");
    let mut cfg = config(&dirs);
    cfg.concurrency = 1;
    cfg.bandwidth_limit = Some(SLOW);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let tiny = engine.enqueue(vec![done_name]).await.unwrap().jobs[0];
    assert_eq!(wait_settled(&mut rx, tiny).await.status, JobStatus::Done);
    let ids = engine.enqueue(sources).await.unwrap().jobs;
    wait_uploading(&mut rx, ids[0]).await;

    let paused = engine.pause_all().await;
    let mut paused_ids: Vec<JobId> = paused.iter().map(|job| job.id).collect();
    paused_ids.sort_unstable();
    assert_eq!(paused_ids, ids, "the running job and both queued ones");
    assert!(paused.iter().all(|job| job.status == JobStatus::Paused));
    let totals = engine.snapshot().totals;
    assert_eq!((totals.active, totals.queued, totals.paused), (0, 0, 3));
    assert_eq!(
        engine.job(tiny).unwrap().status,
        JobStatus::Done,
        "a finished job is left alone"
    );

    let resumed = engine.resume_all().await;
    assert_eq!(resumed.len(), 3);
    for id in &ids {
        assert_eq!(wait_settled(&mut rx, *id).await.status, JobStatus::Done);
    }
    assert!(engine.pause_all().await.is_empty(), "nothing left to pause");
    assert_eq!(
        names_in(&dirs.dest),
        ["batch-0.bin", "batch-1.bin", "batch-2.bin", "tiny.txt"]
    );
    engine.shutdown().await;
}
