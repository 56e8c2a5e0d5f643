//! QA review, "WebSocket Server Tests / Multiple Clients": concurrent connections,
//! resource usage, message broadcasting and client isolation.

mod support;

use ferry_core::JobStatus;
use ferry_ws::{Client, Handshake, ServerConfig, ServerMessage};
use std::time::Duration;
use support::{expect_welcome, job_view, open_connections, start_scripted, within};

fn handshake(token: &str, receive_buffer_size: Option<u32>) -> Handshake {
    Handshake {
        token: Some(token.to_owned()),
        receive_buffer_size,
        ..Handshake::default()
    }
}

/// Job events with long names, so that a backlog builds quickly in small buffers.
fn emit_jobs(backend: &support::Scripted, count: i64, name_len: usize) {
    emit_job_range(backend, 1..=count, name_len);
}

fn emit_job_range(
    backend: &support::Scripted,
    ids: std::ops::RangeInclusive<i64>,
    name_len: usize,
) {
    for id in ids {
        let name = format!("{id:06}-{}", "x".repeat(name_len));
        backend.emit_job(job_view(id, &name, JobStatus::Queued));
    }
}

/// The ids of the next `count` job events, in the order they came; the totals messages
/// between them are skipped, and `seq` must grow.
async fn read_job_ids(client: &mut Client, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    let mut last_seq = client.state().last_seq;
    while ids.len() < count {
        let message = within("a job event", client.next_event()).await.unwrap();
        assert!(
            message.seq() > last_seq,
            "seq went from {last_seq} to {}",
            message.seq()
        );
        last_seq = message.seq();
        match (&message, message.job_status()) {
            (_, Some((id, _))) => ids.push(id.0),
            (ServerMessage::Totals { .. }, None) => {}
            _ => panic!(
                "expected a job event, got a message with seq {}",
                message.seq()
            ),
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connections_fifty_clients_connect_at_once_and_are_all_welcomed() {
    let (backend, server) = start_scripted(ServerConfig::default()).await;
    backend.emit_job(job_view(1, "before.bin", JobStatus::Done));
    let info = server.connection_info().clone();
    let connecting: Vec<_> = (0..50)
        .map(|_| {
            let info = info.clone();
            tokio::spawn(async move {
                let mut client = Client::connect(&info).await.unwrap();
                match expect_welcome(&mut client).await {
                    ServerMessage::Welcome { snapshot, .. } => assert_eq!(snapshot.jobs.len(), 1),
                    _ => unreachable!(),
                }
                client
            })
        })
        .collect();
    let mut clients = Vec::new();
    for handle in connecting {
        clients.push(within("a client", handle).await.unwrap());
    }
    open_connections(&server, 50).await;
    assert_eq!(server.metrics().connections_total, 50);
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn resource_usage_idle_connections_cost_little_memory() {
    let (_backend, server) = start_scripted(ServerConfig {
        max_connections: 512,
        ..ServerConfig::default()
    })
    .await;
    let info = server.connection_info().clone();
    // Warm up, then measure 400 idle connections (both ends live in this process).
    let mut warm = Vec::new();
    for _ in 0..50 {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        warm.push(client);
    }
    let before = resident_bytes();
    let mut idle = Vec::new();
    for _ in 0..400 {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        idle.push(client);
    }
    let per_connection = resident_bytes().saturating_sub(before) / 400;
    // Server and client sides together; the server side alone is held to its 16 KiB
    // floor by tests/idle_memory.rs (and measured by the benchmark). A 128 KiB default read buffer per side would blow this bound.
    assert!(
        per_connection < 96 * 1024,
        "{per_connection} bytes per idle connection (both ends)"
    );
    assert_eq!(server.metrics().connections_open, 450);
}

#[tokio::test]
async fn message_broadcasting_every_client_gets_every_job_event_in_the_same_order() {
    let (backend, server) = start_scripted(ServerConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut client = Client::connect(server.connection_info()).await.unwrap();
        expect_welcome(&mut client).await;
        clients.push(client);
    }
    emit_jobs(&backend, 300, 10);
    let expected: Vec<i64> = (1..=300).collect();
    for client in &mut clients {
        assert_eq!(read_job_ids(client, 300).await, expected);
    }
    assert!(server.metrics().messages_out >= 3000);
}

#[tokio::test]
async fn client_isolation_a_client_that_stops_reading_never_delays_the_others() {
    let (backend, server) = start_scripted(ServerConfig {
        send_buffer_size: Some(4096),
        // Long enough that the stalled client is still connected while the others
        // receive everything: they were never waiting on it.
        write_timeout: Duration::from_secs(3600),
        client_queue: 256,
        ..ServerConfig::default()
    })
    .await;
    let info = server.connection_info().clone();
    let mut stalled = Client::connect_with(&info.url, &handshake(&info.token, Some(4096)))
        .await
        .unwrap();
    stalled.hello(None).await.unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        readers.push(client);
    }
    open_connections(&server, 4).await;

    // 2,000 events of about 2 KiB, in bursts of 100 that the readers keep up with:
    // megabytes against a few KiB of socket buffers and a 256-message queue.
    for burst in 0..20 {
        let first = burst * 100 + 1;
        emit_job_range(&backend, first..=first + 99, 2000);
        let expected: Vec<i64> = (first..=first + 99).collect();
        for client in &mut readers {
            assert_eq!(
                read_job_ids(client, 100).await,
                expected,
                "a reader missed events"
            );
        }
    }
    let metrics = server.metrics();
    assert_eq!(
        metrics.connections_open, 4,
        "the stalled client was still connected"
    );

    // Once it reads again it has lagged: it gets a fresh snapshot, not 2,000 events.
    loop {
        match within("the stalled client's backlog", stalled.next_event())
            .await
            .unwrap()
        {
            ServerMessage::Welcome { snapshot, .. } if snapshot.jobs.len() == 2000 => break,
            ServerMessage::Welcome { .. }
            | ServerMessage::Job { .. }
            | ServerMessage::Totals { .. } => {}
            other => panic!("unexpected message with seq {}", other.seq()),
        }
    }
    assert_eq!(stalled.state().jobs.len(), 2000);
    assert!(server.metrics().resynced >= 1);
}

#[tokio::test]
async fn client_isolation_a_client_that_falls_behind_gets_its_progress_backlog_merged_into_few_frames(
) {
    const JOBS: i64 = 20;
    const STEPS: u64 = 300;
    let (backend, server) = start_scripted(ServerConfig {
        send_buffer_size: Some(4096),
        write_timeout: Duration::from_secs(3600),
        // Every figure as it comes, so the backlog holds one message per step.
        progress_per_sec: 0,
        ..ServerConfig::default()
    })
    .await;
    for id in 1..=JOBS {
        backend.emit_job(job_view(
            id,
            &format!("take-{id}.wav"),
            JobStatus::Uploading,
        ));
    }
    let info = server.connection_info().clone();
    let mut behind = Client::connect_with(&info.url, &handshake(&info.token, Some(4096)))
        .await
        .unwrap();
    behind.hello(None).await.unwrap();
    let start_seq = expect_welcome(&mut behind).await.seq();
    let mut reader = Client::connect(&info).await.unwrap();
    expect_welcome(&mut reader).await;

    // `behind` reads nothing while every job reports 300 times, then ends.
    for step in 1..=STEPS {
        for id in 1..=JOBS {
            backend.emit_progress(id, JobStatus::Uploading, step, STEPS);
            // One message per figure: the hub publishes what it has taken.
            tokio::task::yield_now().await;
        }
    }
    for id in 1..=JOBS {
        backend.emit_job(job_view(id, &format!("take-{id}.wav"), JobStatus::Done));
    }
    // Done, and the totals that follow the job messages say so too.
    let all_done = |client: &Client| {
        client.state().jobs.len() == JOBS as usize
            && client.state().totals.done == JOBS as u32
            && client
                .state()
                .jobs
                .values()
                .all(|job| job.status == JobStatus::Done)
    };
    while !all_done(&reader) {
        within("the reader's events", reader.next_event())
            .await
            .unwrap();
    }
    let messages = reader.state().last_seq - start_seq;

    // Now `behind` reads its backlog: far fewer frames than messages, the same end.
    let mut frames = 0;
    let mut most_jobs_in_a_frame = 0;
    let mut last_figure: std::collections::HashMap<i64, (u64, u64)> =
        std::collections::HashMap::new();
    while !all_done(&behind) {
        frames += 1;
        match within("the backlog", behind.next_event()).await.unwrap() {
            ServerMessage::Progress { progress, .. } => {
                most_jobs_in_a_frame = most_jobs_in_a_frame.max(progress.len());
                for figure in progress {
                    last_figure.insert(figure.job_id.0, (figure.current, figure.total));
                }
            }
            ServerMessage::Totals { .. } => {}
            message => {
                let Some((id, _)) = message.job_status() else {
                    panic!("unexpected message with seq {}", message.seq());
                };
                assert_eq!(
                    last_figure.get(&id.0),
                    Some(&(STEPS, STEPS)),
                    "the upload's 100% did not arrive before the job was done"
                );
            }
        }
    }
    let mut fresh = Client::connect(&info).await.unwrap();
    expect_welcome(&mut fresh).await;
    assert_eq!(behind.state(), fresh.state(), "the final state differs");
    assert!(
        frames * 10 < messages,
        "{frames} frames for {messages} messages"
    );
    // Each message the server published carries one figure: a frame with several is
    // messages merged.
    assert!(most_jobs_in_a_frame > 1);
    assert_eq!(
        server.metrics().lagged,
        0,
        "the backlog was merged, not resynced"
    );
}

#[tokio::test]
async fn client_isolation_a_stalled_client_is_dropped_after_the_write_timeout() {
    let (backend, server) = start_scripted(ServerConfig {
        send_buffer_size: Some(4096),
        write_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let info = server.connection_info().clone();
    let mut stalled = Client::connect_with(&info.url, &handshake(&info.token, Some(4096)))
        .await
        .unwrap();
    stalled.hello(None).await.unwrap();
    let mut reader = Client::connect(&info).await.unwrap();
    expect_welcome(&mut reader).await;
    open_connections(&server, 2).await;
    emit_jobs(&backend, 500, 2000);
    let expected: Vec<i64> = (1..=500).collect();
    assert_eq!(read_job_ids(&mut reader, 500).await, expected);
    open_connections(&server, 1).await;
    assert!(server.metrics().closed_slow >= 1);
    drop(stalled);
}
