//! The progress clock: running jobs' figures are published together, at the clock's
//! ticks, whenever each job started; a stage's final figure goes out at once, once.

mod common;

use common::{config, dirs, next_event, pattern, start, write_file};
use ferry_core::{EngineEvent, JobId, JobStatus};
use std::time::{Duration, Instant};

/// Long enough between ticks that a figure published at another moment than the other
/// job's would be told apart from one of the same tick by its arrival time.
const PERIOD: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_jobs_figures_are_published_together_at_the_clock_s_ticks() {
    let dirs = dirs();
    let first = write_file(&dirs.src, "first.bin", &pattern(3 * 1024 * 1024, 1));
    let second = write_file(&dirs.src, "second.bin", &pattern(3 * 1024 * 1024, 2));
    let mut cfg = config(&dirs);
    cfg.concurrency = 2;
    cfg.progress_interval = PERIOD;
    // 2 MiB/s for both together: they share it for about two seconds.
    cfg.bandwidth_limit = Some(2 * 1024 * 1024);
    let engine = start(cfg).await;
    let mut rx = engine.subscribe();

    let a = engine.enqueue(vec![first]).await.unwrap().jobs[0];
    // The second job starts half a period after the first one's first running figure,
    // so that on a clock of its own its figures would come at other moments.
    loop {
        if let EngineEvent::Progress { progress, .. } = next_event(&mut rx).await {
            if progress.job_id == a && progress.current < progress.total {
                break;
            }
        }
    }
    tokio::time::sleep(PERIOD / 2).await;
    let b = engine.enqueue(vec![second]).await.unwrap().jobs[0];

    // Every event with when it came, until both jobs are done.
    let mut seen: Vec<(Instant, EngineEvent)> = Vec::new();
    let mut done = 0;
    while done < 2 {
        let event = next_event(&mut rx).await;
        if matches!(&event, EngineEvent::Job { job, .. } if job.status == JobStatus::Done) {
            done += 1;
        }
        seen.push((Instant::now(), event));
    }

    let running = |job: JobId| -> Vec<(usize, Instant)> {
        seen.iter()
            .enumerate()
            .filter_map(|(n, (at, event))| match event {
                EngineEvent::Progress { progress, .. }
                    if progress.job_id == job
                        && progress.status == JobStatus::Uploading
                        && progress.current < progress.total =>
                {
                    Some((n, *at))
                }
                _ => None,
            })
            .collect()
    };
    let (of_a, of_b) = (running(a), running(b));
    let a_last = of_a.last().expect("the first job reported while running").0;
    // The second job's running figures while the first was still uploading: each came
    // right next to one of the first job's, in the same tick.
    let overlapping: Vec<_> = of_b.iter().filter(|(n, _)| *n < a_last).collect();
    assert!(
        overlapping.len() >= 2,
        "the uploads overlapped for {} of the second job's figures",
        overlapping.len()
    );
    for (n, at) in overlapping {
        let beside = of_a.iter().find(|(m, _)| m.abs_diff(*n) == 1);
        let Some((_, a_at)) = beside else {
            panic!("figure {n} of the second job was published without the first job's");
        };
        assert!(
            a_at.max(at).duration_since(*a_at.min(at)) < PERIOD / 4,
            "figure {n} of the second job came apart from the first job's"
        );
    }

    // Each stage's final figure went out once.
    for job in [a, b] {
        let finals = seen
            .iter()
            .filter(|(_, event)| {
                matches!(event, EngineEvent::Progress { progress, .. }
                    if progress.job_id == job
                        && progress.status == JobStatus::Uploading
                        && progress.current == progress.total)
            })
            .count();
        assert_eq!(finals, 1, "job {job}'s upload ended {finals} times");
    }
    engine.shutdown().await;
}
