//! QA review, "WebSocket Server Tests / Connection Management": establishment,
//! authentication, termination, error handling and resource cleanup.

mod support;

use ferry_ws::protocol::{close_code as codes, ErrorCode};
use ferry_ws::{Client, ClientMessage, Handshake, Server, ServerConfig, ServerMessage};
use support::{
    close_code, expect_welcome, next, open_connections, refusal_status, within, Fixture,
};
use tokio_tungstenite::tungstenite::Message;

fn with_token(token: &str) -> Handshake {
    Handshake {
        token: Some(token.to_owned()),
        ..Handshake::default()
    }
}

#[tokio::test]
async fn connection_establishment_welcomes_a_client_after_its_hello() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    match expect_welcome(&mut client).await {
        ServerMessage::Welcome {
            seq,
            epoch,
            protocol,
            snapshot,
            limits,
            ..
        } => {
            assert_eq!(seq, 0);
            assert_eq!(epoch, fixture.server.epoch());
            assert_eq!(protocol, "ferry.v1");
            assert!(snapshot.jobs.is_empty());
            assert_eq!(limits.max_message_bytes, 64 * 1024);
            assert_eq!(limits.progress_per_sec, 20);
        }
        _ => unreachable!(),
    }
    assert_eq!(fixture.server.metrics().connections_open, 1);
}

#[tokio::test]
async fn authentication_refuses_missing_wrong_and_previous_launch_tokens() {
    let fixture = Fixture::start().await;
    let url = fixture.server.connection_info().url.clone();
    let missing = Client::connect_with(&url, &Handshake::default()).await;
    assert_eq!(refusal_status(missing), 401);
    let wrong = ferry_ws::Token::generate().encoded();
    assert_eq!(
        refusal_status(Client::connect_with(&url, &with_token(&wrong)).await),
        401
    );

    // A token from a previous launch is worthless once the server restarts.
    let old = fixture.server.connection_info().clone();
    let Fixture {
        dir,
        engine,
        server,
    } = fixture;
    server.shutdown().await;
    let restarted = Server::start(engine.clone(), ServerConfig::default())
        .await
        .unwrap();
    let new_url = &restarted.connection_info().url;
    assert_ne!(restarted.connection_info().token, old.token);
    let replayed = Client::connect_with(new_url, &with_token(&old.token)).await;
    match replayed {
        Err(ferry_ws::WsError::Refused { status, reason }) => {
            assert_eq!(status, 401);
            assert!(reason.contains("not valid"), "{reason}");
        }
        other => panic!("a previous launch's token was not refused: {other:?}"),
    }
    restarted.shutdown().await;
    drop(dir);
}

#[tokio::test]
async fn authentication_refuses_foreign_prefix_trick_and_null_origins_and_foreign_hosts() {
    let fixture = Fixture::start().await;
    let info = fixture.server.connection_info();
    for origin in [
        "https://evil.example",
        "http://tauri.localhost.evil.com",
        "tauri://localhost.evil.com",
        "http://tauri.localhost:8080",
        "null",
    ] {
        let handshake = Handshake {
            origin: Some(origin.to_owned()),
            ..with_token(&info.token)
        };
        let result = Client::connect_with(&info.url, &handshake).await;
        assert_eq!(refusal_status(result), 403, "origin {origin} was let in");
    }
    let port = fixture.server.local_addr().port();
    for host in [
        format!("evil.example:{port}"),
        format!("192.168.1.10:{port}"),
    ] {
        let handshake = Handshake {
            host: Some(host.clone()),
            ..with_token(&info.token)
        };
        let result = Client::connect_with(&info.url, &handshake).await;
        assert_eq!(refusal_status(result), 403, "host {host} was let in");
    }
    assert_eq!(fixture.server.metrics().connections_open, 0);
    assert!(fixture.server.metrics().refused >= 7);
}

/// Regression: the server dropped a closing client without answering its close frame,
/// so browsers saw an abnormal closure (1006) instead of a clean one.
#[tokio::test]
async fn connection_termination_by_the_client_is_answered_and_frees_its_slot() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    open_connections(&fixture.server, 1).await;
    within("the close", client.close()).await.unwrap();
    open_connections(&fixture.server, 0).await;
}

#[tokio::test]
async fn connection_termination_on_server_shutdown_closes_every_client_with_1001() {
    let fixture = Fixture::start().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = fixture.client().await;
        expect_welcome(&mut client).await;
        clients.push(client);
    }
    let Fixture {
        dir,
        engine,
        server,
    } = fixture;
    let mut tasks = server.watch_tasks();
    let shutdown = tokio::spawn(server.shutdown());
    for client in &mut clients {
        assert_eq!(close_code(client).await, 1001);
    }
    within("the shutdown", shutdown).await.unwrap();
    within("every task to end", tasks.wait_for(|n| *n == 0))
        .await
        .unwrap();
    engine.shutdown().await;
    drop(dir);
}

#[tokio::test]
async fn error_handling_answers_invalid_messages_and_closes_after_several_in_a_row() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    // One bad message: an error, and the connection stays.
    client.send_raw(Message::text("{not json")).await.unwrap();
    match next(&mut client).await {
        ServerMessage::Error { error, .. } => {
            assert_eq!(error.code, ErrorCode::InvalidData);
            assert!(error.message.contains("not a valid ferry.v1 message"));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    client.send(&ClientMessage::Metrics).await.unwrap();
    assert!(matches!(
        next(&mut client).await,
        ServerMessage::Metrics { .. }
    ));
    // Five in a row: closed with 1008.
    for _ in 0..5 {
        client
            .send_raw(Message::text(r#"{"type":"nope"}"#))
            .await
            .unwrap();
    }
    assert_eq!(close_code(&mut client).await, codes::INVALID_DATA);
}

#[tokio::test]
async fn error_handling_no_hello_within_the_deadline_closes_with_4408() {
    let fixture = Fixture::start_with(ServerConfig {
        hello_timeout: std::time::Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let info = fixture.server.connection_info();
    let mut silent = Client::connect_with(&info.url, &with_token(&info.token))
        .await
        .unwrap();
    assert_eq!(close_code(&mut silent).await, codes::TIMEOUT);

    // A command before the hello is refused with a clear code.
    let mut eager = Client::connect_with(&info.url, &with_token(&info.token))
        .await
        .unwrap();
    eager
        .send(&ClientMessage::Command {
            id: "early".into(),
            command: ferry_ws::Command::Enqueue { paths: vec![] },
        })
        .await
        .unwrap();
    match next(&mut eager).await {
        ServerMessage::Error { error, .. } => assert_eq!(error.code, ErrorCode::HelloRequired),
        other => panic!("expected hello_required, got {other:?}"),
    }
}

#[tokio::test]
async fn error_handling_a_client_that_vanishes_leaves_the_others_served() {
    let fixture = Fixture::start().await;
    let mut staying = fixture.client().await;
    expect_welcome(&mut staying).await;
    let mut vanishing = fixture.client().await;
    expect_welcome(&mut vanishing).await;
    drop(vanishing); // No close frame: the TCP connection just goes.
    open_connections(&fixture.server, 1).await;
    let source = fixture.source("after.bin", 10_000);
    fixture.engine.enqueue(vec![source]).await.unwrap();
    assert!(matches!(
        next(&mut staying).await,
        ServerMessage::Job { .. }
    ));
}

/// Resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_cleanup_after_10000_connections_returns_tasks_and_memory_to_baseline() {
    let fixture = Fixture::start_with(ServerConfig {
        max_connections: 256,
        max_pending_handshakes: 256,
        ..ServerConfig::default()
    })
    .await;
    let info = fixture.server.connection_info().clone();
    // Warm up allocator arenas, then take the baseline.
    for _ in 0..200 {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        client.close().await.unwrap();
    }
    let mut tasks = fixture.server.watch_tasks();
    within("tasks to settle", tasks.wait_for(|n| *n == 0))
        .await
        .unwrap();
    let baseline = resident_bytes();

    let total = 10_000;
    let batch = 100;
    for _ in 0..total / batch {
        let mut handles = Vec::with_capacity(batch);
        for _ in 0..batch {
            let info = info.clone();
            handles.push(tokio::spawn(async move {
                let mut client = Client::connect(&info).await.unwrap();
                expect_welcome(&mut client).await;
                client.close().await.unwrap();
            }));
        }
        for handle in handles {
            within("a connection", handle).await.unwrap();
        }
    }
    within("every connection task to end", tasks.wait_for(|n| *n == 0))
        .await
        .unwrap();
    open_connections(&fixture.server, 0).await;
    let metrics = fixture.server.metrics();
    assert_eq!(metrics.connections_total, 200 + total as u64);
    assert_eq!(metrics.tasks, 0);
    let grown = resident_bytes().saturating_sub(baseline);
    assert!(
        grown < 32 * 1024 * 1024,
        "memory grew by {grown} bytes over {total} closed connections"
    );
}
