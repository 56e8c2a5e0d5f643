//! A job's trip through every stage: what the events say, and what lands at the
//! destination.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    config, dirs, job_event, names_in, pattern, progress_event, start, wait_all_settled, write_file,
};
use ferry_core::{EngineEvent, JobStatus};

const STAGES: [JobStatus; 4] = [
    JobStatus::Hashing,
    JobStatus::Parsing,
    JobStatus::Uploading,
    JobStatus::Verifying,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_reports_monotonic_progress_and_the_copy_is_identical() {
    let dirs = dirs();
    // A PNG signature up front, so parsing has something to find.
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend(pattern(3 * 1024 * 1024 + 123, 1));
    let size = bytes.len() as u64;
    let source = write_file(&dirs.src, "picture.png", &bytes);

    let mut cfg = config(&dirs);
    cfg.progress_interval = Duration::ZERO; // every chunk, to see every figure
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let report = engine.enqueue(vec![source]).await.expect("enqueue");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let [id] = report.jobs[..] else {
        panic!("one job expected, got {:?}", report.jobs)
    };

    let mut events = Vec::new();
    loop {
        let event = common::next_event(&mut rx).await;
        let done = job_event(&event, id).is_some_and(|j| j.status.is_terminal());
        events.push(event);
        if done {
            break;
        }
    }

    // Stage changes, in order, each announced once.
    let statuses: Vec<JobStatus> = events
        .iter()
        .filter_map(|e| job_event(e, id))
        .map(|j| j.status)
        .collect();
    assert_eq!(
        statuses,
        [
            JobStatus::Queued,
            JobStatus::Hashing,
            JobStatus::Parsing,
            JobStatus::Uploading,
            JobStatus::Verifying,
            JobStatus::Done
        ]
    );

    // Within each stage figures never go back, the total never changes, and the last
    // figure is the whole stage.
    let mut per_stage: HashMap<JobStatus, Vec<(u64, u64)>> = HashMap::new();
    for event in &events {
        if let Some(p) = progress_event(event, id) {
            assert!(p.speed >= 0.0 && p.speed.is_finite());
            per_stage
                .entry(p.status)
                .or_default()
                .push((p.current, p.total));
        }
    }
    for stage in STAGES {
        let figures = per_stage
            .get(&stage)
            .unwrap_or_else(|| panic!("no progress for {stage}"));
        let expected_total = if stage == JobStatus::Parsing {
            8192
        } else {
            size
        };
        assert!(
            figures.windows(2).all(|w| w[0].0 <= w[1].0),
            "{stage} went backwards: {figures:?}"
        );
        assert!(
            figures.iter().all(|f| f.1 == expected_total),
            "{stage}: {figures:?}"
        );
        assert_eq!(
            figures.last().unwrap().0,
            expected_total,
            "{stage} did not end full"
        );
    }
    assert!(
        per_stage[&JobStatus::Uploading].len() > 2,
        "uploading should report as it goes"
    );

    // The job carries what the stages found.
    let job = engine.job(id).expect("job");
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.mime.as_deref(), Some("image/png"));
    assert_eq!(
        job.hash.as_deref(),
        Some(blake3::hash(&bytes).to_hex().as_str())
    );
    assert_eq!((job.progress.current, job.progress.total), (size, size));
    let remote = job.remote.expect("remote");
    assert_eq!(std::fs::read(&remote).expect("copy"), bytes);
    assert_eq!(names_in(&dirs.dest), ["picture.png"]);

    // Queue figures at the end: the whole file counts as done.
    let EngineEvent::Job { totals, .. } = events.last().unwrap() else {
        panic!("last event should be the job's")
    };
    assert_eq!((totals.jobs, totals.done, totals.active), (1, 1, 0));
    assert_eq!((totals.bytes_done, totals.bytes_total), (size, size));
    assert_eq!(totals.eta_secs, None);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_collisions_get_numbered_copies_and_nothing_is_overwritten() {
    let dirs = dirs();
    std::fs::create_dir_all(&dirs.dest).unwrap();
    std::fs::write(dirs.dest.join("report.txt"), b"already here").unwrap();
    // Three different files with the same name, uploaded at the same time.
    let contents: Vec<Vec<u8>> = (0..3).map(|i| pattern(200_000, 10 + i)).collect();
    let sources: Vec<_> = ["a", "b", "c"]
        .iter()
        .zip(&contents)
        .map(|(folder, bytes)| write_file(&dirs.src, &format!("{folder}/report.txt"), bytes))
        .collect();

    let engine = start(config(&dirs)).await;
    let mut rx = engine.subscribe();
    let report = engine.enqueue(sources).await.expect("enqueue");
    assert_eq!(report.jobs.len(), 3);
    for job in wait_all_settled(&mut rx, &report.jobs).await {
        assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    }
    assert_eq!(
        names_in(&dirs.dest),
        [
            "report (1).txt",
            "report (2).txt",
            "report (3).txt",
            "report.txt"
        ]
    );
    assert_eq!(
        std::fs::read(dirs.dest.join("report.txt")).unwrap(),
        b"already here"
    );
    // Each source landed whole in its own copy: none overwrote another.
    let mut copies: Vec<Vec<u8>> = (1..=3)
        .map(|n| std::fs::read(dirs.dest.join(format!("report ({n}).txt"))).unwrap())
        .collect();
    copies.sort();
    let mut expected = contents;
    expected.sort();
    assert!(copies == expected, "the copies differ from the sources");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_runs_at_most_concurrency_jobs_and_keeps_history() {
    let dirs = dirs();
    let sources: Vec<_> = (0..5)
        .map(|i| write_file(&dirs.src, &format!("f{i}.bin"), &pattern(100_000, i)))
        .collect();
    let mut cfg = config(&dirs);
    cfg.concurrency = 2;
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();
    let report = engine.enqueue(sources).await.expect("enqueue");
    let mut settled = 0;
    let mut max_active = 0;
    while settled < report.jobs.len() {
        let event = common::next_event(&mut rx).await;
        let (EngineEvent::Job { totals, .. } | EngineEvent::Progress { totals, .. }) = &event;
        max_active = max_active.max(totals.active);
        if let EngineEvent::Job { job, .. } = &event {
            if job.status.is_terminal() {
                assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
                settled += 1;
            }
        }
    }
    assert!(max_active <= 2, "{max_active} jobs ran at once");

    // History: the snapshot (and a fresh subscription's snapshot) lists every job, in order.
    let (snapshot, _rx) = engine.subscribe_with_snapshot();
    assert_eq!(snapshot, engine.snapshot());
    let ids: Vec<_> = snapshot.jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, report.jobs);
    assert!(snapshot.jobs.iter().all(|j| j.status == JobStatus::Done));
    assert_eq!(snapshot.totals.done, 5);
    assert_eq!(snapshot.totals.bytes_done, 500_000);
    engine.shutdown().await;

    // And it survives a restart.
    let engine = start(config(&dirs)).await;
    let again = engine.snapshot();
    assert_eq!(again.jobs.len(), 5);
    assert!(again
        .jobs
        .iter()
        .all(|j| j.status == JobStatus::Done && j.remote.is_some()));
    engine.shutdown().await;
}
