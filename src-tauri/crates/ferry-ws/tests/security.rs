//! QA review, "Security Testing": connection security (authentication validation,
//! message encryption, access control, rate limiting) and data validation (message
//! format, data sanitization, size limits, type checking), plus connection limits.

mod support;

use ferry_core::JobStatus;
use ferry_ws::protocol::{close_code as codes, ErrorCode};
use ferry_ws::{Client, ClientMessage, Handshake, ServerConfig, ServerMessage, WsError};
use support::{
    close_code, expect_welcome, next, open_connections, refusal_status, within, Fixture,
};
use tokio_tungstenite::tungstenite::Message;

fn handshake(token: Option<&str>, origin: Option<&str>) -> Handshake {
    Handshake {
        token: token.map(str::to_owned),
        origin: origin.map(str::to_owned),
        ..Handshake::default()
    }
}

#[tokio::test]
async fn authentication_validation_happens_in_the_handshake_with_a_short_reason() {
    let fixture = Fixture::start().await;
    let info = fixture.server.connection_info();
    let token = &info.token;
    // A truncated token, a token with one character changed, and a token offered as
    // the only subprotocol: all refused before any socket exists.
    let mut changed: Vec<char> = token.chars().collect();
    changed[10] = if changed[10] == 'A' { 'B' } else { 'A' };
    let changed: String = changed.into_iter().collect();
    for offered in [&token[..20], changed.as_str(), "", "a b c"] {
        match Client::connect_with(&info.url, &handshake(Some(offered), None)).await {
            Err(WsError::Refused { status, reason }) => {
                assert!(status == 401 || status == 400, "{offered}: {status}");
                assert!(reason.len() < 120, "a long refusal: {reason}");
                assert!(
                    !reason.contains(token.as_str()),
                    "the refusal leaked the token"
                );
            }
            other => panic!("token {offered:?} was not refused: {other:?}"),
        }
    }
    assert_eq!(fixture.server.metrics().connections_total, 0);
}

#[tokio::test]
async fn message_encryption_plaintext_is_only_spoken_on_loopback() {
    let fixture = Fixture::start().await;
    assert!(fixture.server.local_addr().ip().is_loopback());
    assert!(fixture
        .server
        .connection_info()
        .url
        .starts_with("ws://127.0.0.1:"));
    // The client refuses to send the token unencrypted anywhere but this machine.
    for url in [
        "ws://192.0.2.1:4242",
        "ws://example.com:4242",
        "ws://127.0.0.1.evil.example:4242",
        "wss://example.com:4242",
    ] {
        match Client::connect_with(url, &handshake(Some("t"), None)).await {
            Err(WsError::NotLoopback(named)) => assert_eq!(named, url),
            other => panic!("{url} was not refused: {other:?}"),
        }
    }
}

#[tokio::test]
async fn access_control_needs_the_token_whatever_the_origin_and_an_exact_origin_when_one_is_sent() {
    let fixture = Fixture::start().await;
    let info = fixture.server.connection_info();
    // The webview's own origin without the token: refused.
    let result = Client::connect_with(&info.url, &handshake(None, Some("tauri://localhost"))).await;
    assert_eq!(refusal_status(result), 401);
    // A foreign page that somehow holds the token: still refused by its origin.
    let result = Client::connect_with(
        &info.url,
        &handshake(Some(&info.token), Some("http://localhost:5173")),
    )
    .await;
    assert_eq!(
        refusal_status(result),
        403,
        "the dev server origin is not allowed by default"
    );
    // The webview with the token, and a native client with the token: let in.
    for origin in [Some("tauri://localhost"), None] {
        let mut client = Client::connect_with(&info.url, &handshake(Some(&info.token), origin))
            .await
            .unwrap();
        client.hello(None).await.unwrap();
        expect_welcome(&mut client).await;
    }
}

#[tokio::test]
async fn rate_limiting_closes_a_flooding_client_with_4429_and_spares_a_polite_one() {
    let fixture = Fixture::start_with(ServerConfig {
        max_messages_per_sec: 2,
        message_burst: 10,
        ..ServerConfig::default()
    })
    .await;
    let mut polite = fixture.client().await;
    expect_welcome(&mut polite).await;
    for _ in 0..5 {
        polite.send(&ClientMessage::Ping).await.unwrap();
    }
    polite.send(&ClientMessage::Metrics).await.unwrap();
    assert!(matches!(
        next(&mut polite).await,
        ServerMessage::Metrics { .. }
    ));

    let mut flooder = fixture.client().await;
    expect_welcome(&mut flooder).await;
    for _ in 0..50 {
        if flooder.send(&ClientMessage::Ping).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut flooder).await, codes::RATE_LIMITED);
    open_connections(&fixture.server, 1).await;
}

#[tokio::test]
async fn message_format_every_server_message_is_a_json_object_tagged_by_type_with_a_seq() {
    let fixture = Fixture::start().await;
    let source = fixture.source("format.txt", 3000);
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    fixture.engine.enqueue(vec![source]).await.unwrap();
    client.send_raw(Message::text("[]")).await.unwrap();
    let mut types = std::collections::BTreeSet::new();
    loop {
        let message = next(&mut client).await;
        let value = serde_json::to_value(&message).unwrap();
        let object = value.as_object().expect("a JSON object");
        let kind = object["type"].as_str().expect("a string `type`").to_owned();
        assert!(object["seq"].is_u64(), "{kind} has no numeric seq");
        // What the server sends reads back as the same message.
        let again: ServerMessage = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(again, message);
        types.insert(kind);
        // A short stage's figures travel with the change that ends it.
        if message.ended().is_some() {
            types.insert("progress".to_owned());
        }
        if message
            .job_status()
            .is_some_and(|(_, status)| status == JobStatus::Done)
        {
            break;
        }
    }
    // A new job comes whole, its stage changes as `change` messages.
    for kind in ["error", "job", "change", "progress"] {
        assert!(
            types.contains(kind),
            "no {kind} message was seen: {types:?}"
        );
    }
}

#[tokio::test]
async fn data_sanitization_file_names_with_control_characters_html_and_bidi_overrides_arrive_intact(
) {
    let fixture = Fixture::start().await;
    let names = [
        "bell\u{7}tab\tnewline\nescape\u{1b}[31m.txt",
        "<img src=x onerror=alert('x')>&amp;<script>.html",
        "invoice\u{202e}fdp.exe",
        "quote\"backslash\\.txt",
    ];
    let sources: Vec<_> = names.iter().map(|name| fixture.source(name, 100)).collect();
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    let jobs = fixture.engine.enqueue(sources.clone()).await.unwrap().jobs;
    assert_eq!(jobs.len(), names.len());
    while jobs.iter().any(|id| {
        client
            .state()
            .jobs
            .get(id)
            .is_none_or(|job| job.status != JobStatus::Done)
    }) {
        within("an event", client.next_event()).await.unwrap();
    }
    for (id, (name, source)) in jobs.iter().zip(names.iter().zip(&sources)) {
        let job = &client.state().jobs[id];
        assert_eq!(job.name, *name);
        assert_eq!(job.path, source.display().to_string());
    }
}

#[tokio::test]
async fn size_limits_a_message_at_the_limit_is_read_and_one_byte_more_closes_with_1009() {
    let fixture = Fixture::start_with(ServerConfig {
        max_message_size: 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    let padding = 1024 - r#"{"type":"ping","pad":""}"#.len();
    let at_limit = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(padding));
    assert_eq!(at_limit.len(), 1024);
    client.send_raw(Message::text(at_limit)).await.unwrap();
    client.send(&ClientMessage::Metrics).await.unwrap();
    assert!(matches!(
        next(&mut client).await,
        ServerMessage::Metrics { .. }
    ));
    client
        .send_raw(Message::text("x".repeat(1025)))
        .await
        .unwrap();
    assert_eq!(close_code(&mut client).await, codes::TOO_LARGE);
}

#[tokio::test]
async fn type_checking_wrong_field_types_get_an_invalid_data_error_that_names_the_problem() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    for (bad, expected) in [
        (
            r#"{"type":"command","id":"a","command":{"action":"pause","job_id":"7"}}"#,
            "invalid type",
        ),
        (
            r#"{"type":"command","id":"b","command":{"action":"enqueue","paths":"/etc"}}"#,
            "invalid type",
        ),
        (
            r#"{"type":"command","id":7,"command":{"action":"pause","job_id":7}}"#,
            "invalid type",
        ),
        (r#"{"type":"ack","seq":-1}"#, "invalid value"),
        (
            r#"{"type":"command","id":"","command":{"action":"pause","job_id":7}}"#,
            "1 to 128",
        ),
    ] {
        client.send_raw(Message::text(bad)).await.unwrap();
        match next(&mut client).await {
            ServerMessage::Error { error, .. } => {
                assert_eq!(error.code, ErrorCode::InvalidData);
                assert!(error.message.contains(expected), "{bad}: {}", error.message);
            }
            other => panic!("expected an error for {bad}, got {other:?}"),
        }
        // A valid message between keeps the invalid streak from closing the socket.
        client.send(&ClientMessage::Ping).await.unwrap();
    }
}

#[tokio::test]
async fn connection_limit_handling_refuses_with_503_and_admits_again_after_a_close() {
    let fixture = Fixture::start_with(ServerConfig {
        max_connections: 3,
        ..ServerConfig::default()
    })
    .await;
    let info = fixture.server.connection_info().clone();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = fixture.client().await;
        expect_welcome(&mut client).await;
        clients.push(client);
    }
    let refused = Client::connect(&info).await;
    match refused {
        Err(WsError::Refused { status, reason }) => {
            assert_eq!(status, 503);
            assert!(reason.contains("too many connections"), "{reason}");
        }
        other => panic!("a fourth connection was not refused: {other:?}"),
    }
    clients.pop().unwrap().close().await.unwrap();
    open_connections(&fixture.server, 2).await;
    let mut again = fixture.client().await;
    expect_welcome(&mut again).await;
}
