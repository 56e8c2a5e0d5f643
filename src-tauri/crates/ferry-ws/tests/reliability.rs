//! Recovery and delivery guarantees: resume by `last_seq`, snapshots when the gap is
//! too old or the epoch changed, acknowledged terminal events, idempotent commands
//! and the heartbeat.

mod support;

use ferry_core::JobStatus;
use ferry_ws::protocol::close_code as codes;
use ferry_ws::{
    Client, ClientMessage, Command, CommandResult, Server, ServerConfig, ServerMessage, WsError,
};
use std::time::Duration;
use support::{expect_welcome, job_view, open_connections, start_scripted, within, Fixture};

async fn next_event(client: &mut Client) -> ServerMessage {
    within("an event", next_but_totals(client)).await
}

/// The next new event that is not a totals message: those follow job messages in the
/// next update, and these tests are about the job messages.
async fn next_but_totals(client: &mut Client) -> ServerMessage {
    loop {
        let message = client.next_event().await.unwrap();
        if !matches!(message, ServerMessage::Totals { .. }) {
            return message;
        }
    }
}

/// The next message as it arrives (repeats included) that is not a totals message.
async fn next_message_but_totals(client: &mut Client) -> ServerMessage {
    loop {
        let message = within("a message", client.next_message()).await.unwrap();
        if !matches!(message, ServerMessage::Totals { .. }) {
            return message;
        }
    }
}

#[tokio::test]
async fn a_client_reconnecting_with_last_seq_gets_exactly_the_events_it_missed() {
    let (backend, server) = start_scripted(ServerConfig::default()).await;
    backend.emit_job(job_view(1, "a.bin", JobStatus::Queued));
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    backend.emit_job(job_view(1, "a.bin", JobStatus::Hashing));
    next_event(&mut client).await;
    let (_, before) = client.cursor().unwrap();

    // Lose the connection; five events happen meanwhile.
    let info = server.connection_info().clone();
    client.disconnect().await.unwrap();
    open_connections(&server, 0).await;
    for id in 2..=6 {
        backend.emit_job(job_view(id, "b.bin", JobStatus::Queued));
    }
    client.reconnect(&info).await.unwrap();
    match next_event(&mut client).await {
        ServerMessage::Resume { from_seq, .. } => assert_eq!(from_seq, before),
        other => panic!("expected a resume, got seq {}", other.seq()),
    }
    // The five job events it missed, each once and in order, and nothing it had.
    let mut jobs = Vec::new();
    let mut last_seq = before;
    while jobs.len() < 5 {
        let message = within("an event", client.next_event()).await.unwrap();
        assert!(
            message.seq() > last_seq,
            "seq {} after {last_seq}",
            message.seq()
        );
        last_seq = message.seq();
        jobs.extend(message.job_status().map(|(id, _)| id.0));
    }
    assert_eq!(jobs, [2, 3, 4, 5, 6]);
    assert_eq!(client.state().jobs.len(), 6);
}

#[tokio::test]
async fn a_gap_older_than_the_replay_ring_gets_a_full_snapshot() {
    let (backend, server) = start_scripted(ServerConfig {
        replay_capacity: 4,
        ..ServerConfig::default()
    })
    .await;
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    for id in 1..=10 {
        backend.emit_job(job_view(id, "f.bin", JobStatus::Queued));
    }
    // Wait until the server has numbered all ten and the totals after them, then
    // resume from seq 0.
    while client.state().totals.jobs < 10 {
        within("an event", client.next_event()).await.unwrap();
    }
    let latest = client.state().last_seq;
    let mut stale = Client::connect_with(
        &server.connection_info().url,
        &ferry_ws::Handshake {
            token: Some(server.connection_info().token.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    stale
        .hello(Some((server.epoch().to_owned(), 0)))
        .await
        .unwrap();
    match next_event(&mut stale).await {
        ServerMessage::Welcome { seq, snapshot, .. } => {
            assert_eq!(seq, latest);
            assert_eq!(snapshot.jobs.len(), 10);
        }
        other => panic!("expected a snapshot, got seq {}", other.seq()),
    }
}

#[tokio::test]
async fn a_client_from_a_previous_epoch_gets_a_full_snapshot() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    let old_epoch = fixture.server.epoch().to_owned();
    let Fixture {
        dir,
        engine,
        server,
    } = fixture;
    server.shutdown().await;
    let restarted = Server::start(engine.clone(), ServerConfig::default())
        .await
        .unwrap();
    assert_ne!(restarted.epoch(), old_epoch);
    client.reconnect(restarted.connection_info()).await.unwrap();
    match next_event(&mut client).await {
        ServerMessage::Welcome { epoch, .. } => assert_eq!(epoch, restarted.epoch()),
        other => panic!("expected a welcome, got seq {}", other.seq()),
    }
    restarted.shutdown().await;
    engine.shutdown().await;
    drop(dir);
}

#[tokio::test]
async fn an_unacknowledged_terminal_event_is_resent_after_the_timeout_and_applied_once() {
    let (backend, server) = start_scripted(ServerConfig {
        ack_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await;
    backend.emit_job(job_view(1, "a.bin", JobStatus::Uploading));
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    client.set_auto_ack(false);
    backend.emit_job(job_view(1, "a.bin", JobStatus::Done));
    let first = next_message_but_totals(&mut client).await;
    let again = next_message_but_totals(&mut client).await;
    assert!(first.needs_ack());
    assert_eq!(again, first, "the resend repeats the same message and seq");
    assert!(server.metrics().resent >= 1);

    // The client applies it once: the repeat has a seq it already holds.
    let mut state = client.state().clone();
    assert!(state.apply(&first));
    assert!(!state.apply(&again));
    // After an ack, a round trip shows the server still serving the connection.
    client
        .send(&ClientMessage::Ack { seq: first.seq() })
        .await
        .unwrap();
    client.send(&ClientMessage::Metrics).await.unwrap();
    loop {
        match within("the metrics", client.next_message()).await.unwrap() {
            ServerMessage::Metrics { metrics, .. } => {
                assert!(metrics.resent >= 1);
                break;
            }
            ServerMessage::Totals { .. } => {}
            message => assert_eq!(message.seq(), first.seq(), "only resends came before"),
        }
    }
}

#[tokio::test]
async fn a_terminal_event_missed_while_disconnected_is_resent_after_the_snapshot() {
    let (backend, server) = start_scripted(ServerConfig {
        replay_capacity: 2,
        ..ServerConfig::default()
    })
    .await;
    backend.emit_job(job_view(1, "a.bin", JobStatus::Uploading));
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    let info = server.connection_info().clone();
    client.disconnect().await.unwrap();
    open_connections(&server, 0).await;
    // Too many events for the replay ring, one of them terminal.
    backend.emit_job(job_view(1, "a.bin", JobStatus::Failed));
    for id in 2..=6 {
        backend.emit_job(job_view(id, "b.bin", JobStatus::Queued));
    }
    client.reconnect(&info).await.unwrap();
    let mut saw_welcome = false;
    let mut failures = 0;
    while client.state().jobs.len() < 6 || failures == 0 {
        match next_event(&mut client).await {
            ServerMessage::Welcome { .. } => saw_welcome = true,
            message
                if message
                    .job_status()
                    .is_some_and(|(_, s)| s == JobStatus::Failed) =>
            {
                failures += 1;
            }
            _ => {}
        }
    }
    assert!(
        saw_welcome,
        "the gap was older than the ring: a snapshot was due"
    );
    assert_eq!(failures, 1, "the failure was delivered exactly once");
}

#[tokio::test]
async fn a_resent_command_has_its_effect_once_and_gets_the_same_reply() {
    let fixture = Fixture::start().await;
    let source = fixture.source("once.bin", 1000);
    let command = Command::Enqueue {
        paths: vec![source.display().to_string()],
    };
    let mut first = fixture.client().await;
    expect_welcome(&mut first).await;
    let reply = first
        .command_with_id("cmd-42", command.clone())
        .await
        .unwrap();
    // The same id again, from another connection (as after a reconnect).
    let mut second = fixture.client().await;
    expect_welcome(&mut second).await;
    let again = second.command_with_id("cmd-42", command).await.unwrap();
    assert_eq!(again, reply);
    match reply {
        CommandResult::Enqueued { report } => assert_eq!(report.jobs.len(), 1),
        other @ CommandResult::Job { .. } => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        fixture.engine.snapshot().jobs.len(),
        1,
        "the enqueue ran twice"
    );
    // The same id for a different command is refused.
    let reused = second
        .command_with_id("cmd-42", Command::Enqueue { paths: vec![] })
        .await;
    assert!(matches!(
        reused,
        Err(WsError::Command {
            code: ferry_ws::protocol::ErrorCode::IdReused,
            ..
        })
    ));
}

/// Opens a WebSocket by hand, sends a hello, and returns the raw TCP stream: a client
/// that never answers a ping because it never reads until the end.
async fn silent_client(info: &ferry_ws::ConnectionInfo) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = info.url.trim_start_matches("ws://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: ferry.v1, ferry.token.{}\r\n\r\n",
        info.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // A masked text frame (mask of zeros) holding the hello.
    let hello = br#"{"type":"hello"}"#;
    let mut frame = vec![0x81, 0x80 | hello.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(hello);
    stream.write_all(&frame).await.unwrap();
    stream
}

/// Reads every frame until the server ends the connection; returns the close code.
async fn close_code_of_raw(stream: &mut tokio::net::TcpStream) -> u16 {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let _ = within("the end of the stream", stream.read_to_end(&mut bytes)).await;
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0f;
        let mut len = usize::from(bytes[at + 1] & 0x7f);
        let mut header = 2;
        if len == 126 {
            len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            header = 4;
        } else if len == 127 {
            len = u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize;
            header = 10;
        }
        let payload = &bytes[at + header..at + header + len];
        if opcode == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
        at += header + len;
    }
    panic!("the server sent no close frame")
}

#[tokio::test]
async fn heartbeat_closes_a_connection_that_misses_two_pongs_and_keeps_one_that_answers() {
    let (_backend, server) = start_scripted(ServerConfig {
        ping_interval: Duration::from_millis(50),
        ..ServerConfig::default()
    })
    .await;
    let info = server.connection_info().clone();
    let mut lively = Client::connect(&info).await.unwrap();
    expect_welcome(&mut lively).await;
    let mut silent = silent_client(&info).await;
    open_connections(&server, 2).await;

    // The lively client keeps reading (tungstenite answers pings while it reads).
    let mut open = server.watch_connections();
    let reader = tokio::spawn(async move {
        let _ = lively.next_message().await;
        lively
    });
    within(
        "the silent client to be dropped",
        open.wait_for(|n| *n == 1),
    )
    .await
    .unwrap();
    assert_eq!(close_code_of_raw(&mut silent).await, codes::TIMEOUT);
    assert!(!reader.is_finished(), "the lively client was closed too");
    reader.abort();
    assert!(server.metrics().closed_slow >= 1);
}

#[tokio::test(start_paused = true)]
async fn terminal_events_read_together_are_acknowledged_together_a_quarter_second_later() {
    let (backend, server) = start_scripted(ServerConfig::default()).await;
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    let before = server.metrics().messages_in;
    for id in 1..=5 {
        backend.emit_job(job_view(id, "a.bin", JobStatus::Done));
    }
    for _ in 1..=5 {
        assert!(next_event(&mut client).await.needs_ack());
    }
    // While the client waits for more, nothing goes out for 200 ms...
    let quiet =
        tokio::time::timeout(Duration::from_millis(200), next_but_totals(&mut client)).await;
    assert!(quiet.is_err(), "no further event was sent");
    assert_eq!(
        server.metrics().messages_in,
        before,
        "an acknowledgement went out before the delay"
    );
    // ... and by 300 ms all five have, and the server resends none of them.
    let quiet =
        tokio::time::timeout(Duration::from_millis(100), next_but_totals(&mut client)).await;
    assert!(quiet.is_err(), "no further event was sent");
    let metrics = server.metrics();
    assert_eq!(
        metrics.messages_in,
        before + 1,
        "the five went out in one message"
    );
    assert_eq!(metrics.resent, 0);
}

/// Regression: each acknowledgement was a message of its own, so a client that saw 200
/// small files end within a second went over its inbound rate limit and was closed with
/// 4429.
#[tokio::test(start_paused = true)]
async fn two_hundred_jobs_ending_at_once_are_acknowledged_without_tripping_the_rate_limit() {
    let (backend, server) = start_scripted(ServerConfig::default()).await;
    let mut client = Client::connect(server.connection_info()).await.unwrap();
    expect_welcome(&mut client).await;
    for id in 1..=200 {
        backend.emit_job(job_view(id, "small.txt", JobStatus::Done));
    }
    for _ in 1..=200 {
        assert!(next_event(&mut client).await.needs_ack());
    }
    // Past the acknowledgement delay and the server's resend timeout: the client is
    // still served, and nothing came back.
    let quiet = tokio::time::timeout(Duration::from_secs(60), next_but_totals(&mut client)).await;
    assert!(
        quiet.is_err(),
        "an event was resent or the connection closed"
    );
    let metrics = server.metrics();
    assert_eq!(metrics.closed_limit, 0);
    assert_eq!(metrics.resent, 0);
    assert_eq!(metrics.connections_open, 1);
}
