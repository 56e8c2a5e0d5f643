//! QA review, "WebSocket Server Tests / Progress Tracking": calculation accuracy, event
//! timing, data consistency and performance impact.

mod support;

use ferry_core::{JobId, JobStatus};
use ferry_ws::{Client, Handshake, ServerConfig, ServerMessage};
use std::collections::HashMap;
use std::time::Duration;
use support::{expect_welcome, job_view, start_scripted, within, Fixture};

/// Reads events until every job in `jobs` is done; returns the upload figures seen
/// per job, in order.
async fn follow(client: &mut Client, jobs: &[JobId]) -> HashMap<JobId, Vec<(u64, u64)>> {
    let mut uploads: HashMap<JobId, Vec<(u64, u64)>> = HashMap::new();
    loop {
        let all_done = jobs.iter().all(|id| {
            client
                .state()
                .jobs
                .get(id)
                .is_some_and(|job| job.status == JobStatus::Done)
        });
        if all_done {
            return uploads;
        }
        match within("an event", client.next_event()).await.unwrap() {
            ServerMessage::Progress { progress, .. } => {
                for figure in progress.iter().filter(|p| p.status == JobStatus::Uploading) {
                    uploads
                        .entry(figure.job_id)
                        .or_default()
                        .push((figure.current, figure.total));
                }
            }
            message => {
                let Some((id, status)) = message.job_status() else {
                    continue;
                };
                // A stage's 100 % may travel with the change that ends the stage.
                if let Some(figure) = message.ended().filter(|f| f.status == JobStatus::Uploading) {
                    uploads
                        .entry(figure.job_id)
                        .or_default()
                        .push((figure.current, figure.total));
                }
                assert!(
                    !matches!(status, JobStatus::Failed | JobStatus::Cancelled),
                    "job ended {status:?}: {:?}",
                    client.state().jobs[&id].error
                );
            }
        }
    }
}

#[tokio::test]
async fn progress_calculation_accuracy_figures_never_decrease_and_end_exactly_at_the_file_size() {
    let fixture = Fixture::start().await;
    let sizes = [1usize, 4095, 1024 * 1024 + 7, 3 * 1024 * 1024 + 17];
    let sources: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(n, size)| fixture.source(&format!("file-{n}.bin"), *size))
        .collect();
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    let report = fixture.engine.enqueue(sources).await.unwrap();
    let uploads = within("every job", follow(&mut client, &report.jobs)).await;

    for (id, size) in report.jobs.iter().zip(sizes) {
        let size = size as u64;
        let figures = &uploads[id];
        let mut previous = 0;
        for &(current, total) in figures {
            assert_eq!(total, size, "the upload total is not the file size");
            assert!(
                current >= previous,
                "upload progress went from {previous} to {current}"
            );
            assert!(current <= total);
            previous = current;
        }
        assert_eq!(
            figures.last(),
            Some(&(size, size)),
            "the final 100% was not delivered"
        );
        assert_eq!(client.state().jobs[id].size, size);
    }
    // The totals follow the job messages that changed them, in the next update.
    within("the final totals", async {
        while client.state().totals.done < 4 {
            client.next_event().await.unwrap();
        }
    })
    .await;
    let totals = &client.state().totals;
    assert_eq!(totals.done, 4);
    assert_eq!(totals.bytes_done, totals.bytes_total);
    assert_eq!(totals.bytes_total, sizes.iter().sum::<usize>() as u64);
}

/// Jobs in the event timing test.
const JOBS: i64 = 10;

/// The emitter's step (one every 5 ms) at which hashing ends: not on a 50 ms mark, so the
/// hash's 100 % comes while its job has no allowance left and must be sent early.
const HASH_END: u64 = 503;

/// The emitter's last step.
const LAST_STEP: u64 = 1000;

/// 5 simulated seconds, every job reporting every 5 ms (2,000 figures a second in all,
/// ten times the rate each client takes): hashing, then, as the engine does, a job
/// message for the new stage and uploading, then done.
async fn emit_two_stages(backend: std::sync::Arc<support::Scripted>) {
    let name = |id: i64| format!("movie-{id}.mkv");
    for step in 0..=LAST_STEP {
        for id in 1..=JOBS {
            if step == HASH_END + 1 {
                backend.emit_job(job_view(id, &name(id), JobStatus::Uploading));
            }
            let (status, current) = if step <= HASH_END {
                (JobStatus::Hashing, step * 1000 / HASH_END)
            } else {
                let uploaded = (step - HASH_END) * 1000 / (LAST_STEP - HASH_END);
                (JobStatus::Uploading, uploaded)
            };
            backend.emit_progress(id, status, current, 1000);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for id in 1..=JOBS {
        backend.emit_job(job_view(id, &name(id), JobStatus::Done));
    }
}

/// Server settings for the timing tests: 20 figures a second per job and 20 updates a
/// second (twice the default, which these tests do not depend on), and the heartbeat
/// and resends out of the way (the paused clock runs ahead while the test waits).
fn twenty_a_second() -> ServerConfig {
    ServerConfig {
        progress_per_sec: 20,
        updates_per_sec: 20,
        ping_interval: Duration::from_secs(3600),
        ack_timeout: Duration::from_secs(3600),
        ..ServerConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn event_timing_each_job_reaches_a_client_at_most_20_times_a_second_yet_every_stage_and_100_percent(
) {
    let (backend, server) = start_scripted(twenty_a_second()).await;
    for id in 1..=JOBS {
        backend.emit_job(job_view(id, &format!("movie-{id}.mkv"), JobStatus::Hashing));
    }
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;

    let start = tokio::time::Instant::now();
    let emitter = tokio::spawn(emit_two_stages(backend.clone()));

    // Each job's figures as received: when, stage, bytes.
    let mut seen: HashMap<JobId, Vec<(Duration, JobStatus, u64)>> = HashMap::new();
    // Each job's stage as of the last job message received (the welcome's, at first),
    // and the stages each job went through.
    let mut stage: HashMap<JobId, JobStatus> = client
        .state()
        .jobs
        .values()
        .map(|job| (job.id, job.status))
        .collect();
    let mut stages: HashMap<JobId, Vec<JobStatus>> = HashMap::new();
    let mut done = 0;
    while done < JOBS {
        match within("an event", client.next_event()).await.unwrap() {
            ServerMessage::Progress { progress, .. } => {
                let at = start.elapsed();
                for figure in progress {
                    assert_eq!(
                        Some(&figure.status),
                        stage.get(&figure.job_id),
                        "a figure of another stage than the job's last job message"
                    );
                    seen.entry(figure.job_id).or_default().push((
                        at,
                        figure.status,
                        figure.current,
                    ));
                }
            }
            message => {
                let Some((id, status)) = message.job_status() else {
                    continue;
                };
                // A stage's 100 % may travel with the change that ends the stage.
                if let Some(figure) = message.ended() {
                    seen.entry(figure.job_id).or_default().push((
                        start.elapsed(),
                        figure.status,
                        figure.current,
                    ));
                }
                let last = seen[&id]
                    .last()
                    .map(|(_, status, current)| (*status, *current));
                if status == JobStatus::Uploading {
                    assert_eq!(
                        last,
                        Some((JobStatus::Hashing, 1000)),
                        "the hash's 100% did not arrive before the next stage"
                    );
                }
                if status == JobStatus::Done {
                    done += 1;
                    assert_eq!(
                        last,
                        Some((JobStatus::Uploading, 1000)),
                        "the upload's 100% did not arrive before the job was done"
                    );
                }
                stage.insert(id, status);
                stages.entry(id).or_default().push(status);
            }
        }
    }
    emitter.await.unwrap();

    let seconds = start.elapsed().as_secs_f64().ceil() as usize;
    for id in 1..=JOBS {
        let job = JobId(id);
        // Every stage change arrived, in order.
        assert_eq!(stages[&job], [JobStatus::Uploading, JobStatus::Done]);
        let figures = &seen[&job];
        // Figures only grow within a stage.
        assert!(figures
            .windows(2)
            .all(|w| w[0].1 != w[1].1 || w[0].2 <= w[1].2));
        // The bound is per job, whatever the number of jobs: in any one-second window at
        // most 20 figures, plus the one a job may save up, plus the hash's 100 % that its
        // stage change sends before its time.
        for (n, (from, ..)) in figures.iter().enumerate() {
            let in_window = figures[n..]
                .iter()
                .take_while(|(at, ..)| *at < *from + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 20 + 2,
                "{in_window} figures of {job:?} within one second"
            );
        }
        assert!(
            figures.len() <= seconds * 20 + 2,
            "{} figures of {job:?} in {seconds} s",
            figures.len()
        );
        // Pacing, not starving: about 20 a second.
        assert!(
            figures.len() >= (seconds - 1) * 20,
            "{} figures",
            figures.len()
        );
    }
    assert!(server.metrics().coalesced > 0);
}

#[tokio::test(start_paused = true)]
async fn event_timing_a_figure_of_a_quiet_job_goes_out_at_once_and_a_busy_one_waits_one_period() {
    let (backend, server) = start_scripted(twenty_a_second()).await;
    for id in 1..=2 {
        backend.emit_job(job_view(
            id,
            &format!("clip-{id}.mov"),
            JobStatus::Uploading,
        ));
    }
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    let t0 = tokio::time::Instant::now();
    let next_figure = async |client: &mut Client| loop {
        if let ServerMessage::Progress { progress, .. } =
            within("a figure", client.next_event()).await.unwrap()
        {
            let figures: Vec<(i64, u64)> =
                progress.iter().map(|p| (p.job_id.0, p.current)).collect();
            return (figures, t0.elapsed());
        }
    };

    // Job 1 reports three times in a row; the first two go at once (the second is the
    // one a job may save up), the third waits for the job's next period.
    for current in [10, 20] {
        backend.emit_progress(1, JobStatus::Uploading, current, 1000);
        assert_eq!(
            next_figure(&mut client).await,
            (vec![(1, current)], Duration::ZERO),
            "sent at once"
        );
    }
    backend.emit_progress(1, JobStatus::Uploading, 30, 1000);
    // Job 2 has said nothing so far: its figure goes out at once, ahead of job 1's.
    backend.emit_progress(2, JobStatus::Uploading, 5, 1000);
    assert_eq!(
        next_figure(&mut client).await,
        (vec![(2, 5)], Duration::ZERO),
        "a quiet job waited"
    );
    assert_eq!(
        next_figure(&mut client).await,
        (vec![(1, 30)], Duration::from_millis(50)),
        "the busy job's figure waits exactly one period"
    );
}

#[tokio::test]
async fn data_consistency_snapshot_plus_replay_equals_the_live_state_and_the_cursor_advances() {
    let fixture = Fixture::start_with(ServerConfig {
        progress_per_sec: 0,
        ..ServerConfig::default()
    })
    .await;
    let info = fixture.server.connection_info().clone();
    let mut live = fixture.client().await;
    expect_welcome(&mut live).await;
    let mut resumer = fixture.client().await;
    expect_welcome(&mut resumer).await;

    let first = fixture.source("first.bin", 2 * 1024 * 1024);
    let first = fixture.engine.enqueue(vec![first]).await.unwrap().jobs;
    // The resumer reads a few events, then drops its connection mid-stream.
    for _ in 0..3 {
        within("an event", resumer.next_event()).await.unwrap();
    }
    let (epoch, before) = resumer.cursor().unwrap();
    follow(&mut live, &first).await;
    let second = fixture.source("second.bin", 1024 * 1024);
    let second = fixture.engine.enqueue(vec![second]).await.unwrap().jobs;
    follow(&mut live, &second).await;

    within("a reconnect", resumer.reconnect(&info))
        .await
        .unwrap();
    match within("the resume", resumer.next_event()).await.unwrap() {
        ServerMessage::Resume {
            seq,
            epoch: resumed_epoch,
            from_seq,
            ..
        } => {
            assert_eq!(resumed_epoch, epoch);
            assert_eq!(from_seq, before);
            assert!(seq > before);
        }
        other => panic!("expected a resume, got {other:?}"),
    }
    let mut all = first.clone();
    all.extend(&second);
    follow(&mut resumer, &all).await;

    // A fresh client's snapshot is the server's state; both others converge on it.
    let mut fresh = Client::connect_with(
        &info.url,
        &Handshake {
            token: Some(info.token.clone()),
            ..Handshake::default()
        },
    )
    .await
    .unwrap();
    fresh.hello(None).await.unwrap();
    within("the welcome", fresh.next_event()).await.unwrap();
    let server_seq = fresh.state().last_seq;
    for client in [&mut live, &mut resumer] {
        while client.state().last_seq < server_seq {
            within("an event", client.next_event()).await.unwrap();
        }
        assert_eq!(client.state().snapshot(), fresh.state().snapshot());
        assert_eq!(
            client.state().last_seq,
            server_seq,
            "the cursor did not advance"
        );
    }
}

#[tokio::test]
async fn performance_impact_a_client_that_stops_reading_never_holds_up_the_engine() {
    let fixture = Fixture::start_with(ServerConfig {
        send_buffer_size: Some(4096),
        write_timeout: Duration::from_secs(3600),
        progress_per_sec: 0,
        ..ServerConfig::default()
    })
    .await;
    let info = fixture.server.connection_info().clone();
    let mut stalled = Client::connect_with(
        &info.url,
        &Handshake {
            token: Some(info.token.clone()),
            receive_buffer_size: Some(4096),
            ..Handshake::default()
        },
    )
    .await
    .unwrap();
    stalled.hello(None).await.unwrap();
    // The stalled client never reads again; the watcher follows everything.
    let mut watcher = fixture.client().await;
    expect_welcome(&mut watcher).await;

    let sources: Vec<_> = (0..6)
        .map(|n| fixture.source(&format!("load-{n}.bin"), 2 * 1024 * 1024))
        .collect();
    let jobs = fixture.engine.enqueue(sources).await.unwrap().jobs;
    within("every job", follow(&mut watcher, &jobs)).await;
    // Still connected: the engine and the watcher went on without waiting for it.
    assert_eq!(fixture.server.metrics().connections_open, 2);
    drop(stalled);
}

#[tokio::test(start_paused = true)]
async fn event_timing_stage_changes_in_quick_succession_reach_a_client_together_and_ride_with_the_next_running_figure_which_never_waits(
) {
    let (backend, server) = start_scripted(twenty_a_second()).await;
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    let t0 = tokio::time::Instant::now();
    // The totals that follow job messages are left out: this test is about when.
    let next = async |client: &mut Client| loop {
        let message = within("a message", client.next_event()).await.unwrap();
        let arrived = match (&message, message.job_status(), message.ended()) {
            (ServerMessage::Totals { .. }, ..) => continue,
            (ServerMessage::Progress { progress, .. }, ..) => {
                format!("progress {} {}", progress[0].job_id.0, progress[0].current)
            }
            (_, Some((id, status)), Some(end)) => {
                format!("job {} {status} ended {}", id.0, end.current)
            }
            (_, Some((id, status)), None) => format!("job {} {status}", id.0),
            _ => panic!("unexpected {message:?}"),
        };
        break (arrived, t0.elapsed());
    };
    let ms = Duration::from_millis;

    // After a quiet spell, a stage change goes out at once.
    backend.emit_job(job_view(1, "a.bin", JobStatus::Hashing));
    assert_eq!(next(&mut client).await, ("job 1 hashing".into(), ms(0)));

    // Within the next 50 ms, a stage's end with the change that follows it (one message)
    // and another change wait for the next update and arrive together, in order.
    tokio::time::sleep(ms(10)).await;
    backend.emit_progress(1, JobStatus::Hashing, 1000, 1000);
    backend.emit_job(job_view(1, "a.bin", JobStatus::Uploading));
    tokio::time::sleep(ms(10)).await;
    backend.emit_job(job_view(2, "b.bin", JobStatus::Queued));
    assert_eq!(
        next(&mut client).await,
        ("job 1 uploading ended 1000".into(), ms(50))
    );
    assert_eq!(next(&mut client).await, ("job 2 queued".into(), ms(50)));

    // A running stage's figure goes out at once, and takes the change waiting before
    // it along.
    tokio::time::sleep(ms(20)).await;
    backend.emit_job(job_view(2, "b.bin", JobStatus::Hashing));
    tokio::time::sleep(ms(5)).await;
    backend.emit_progress(1, JobStatus::Uploading, 300, 1000);
    assert_eq!(next(&mut client).await, ("job 2 hashing".into(), ms(75)));
    assert_eq!(next(&mut client).await, ("progress 1 300".into(), ms(75)));

    // That update carried a running figure, so the engine's next tick is due about one
    // update later: a change waits for it, up to a fifth of an update more, and goes
    // with it (one write instead of one at 125 ms and another at 130 ms).
    tokio::time::sleep(ms(5)).await;
    backend.emit_job(job_view(2, "b.bin", JobStatus::Parsing));
    tokio::time::sleep(ms(50)).await;
    backend.emit_progress(1, JobStatus::Uploading, 600, 1000);
    assert_eq!(next(&mut client).await, ("job 2 parsing".into(), ms(130)));
    assert_eq!(next(&mut client).await, ("progress 1 600".into(), ms(130)));

    // When no figure comes, the change goes out at the end of that grace.
    tokio::time::sleep(ms(5)).await;
    backend.emit_job(job_view(2, "b.bin", JobStatus::Uploading));
    assert_eq!(next(&mut client).await, ("job 2 uploading".into(), ms(190)));
}
