//! Every refusal happens in the handshake, as an HTTP error, before a socket exists.

mod support;

use ferry_ws::{Client, Handshake, ServerMessage};
use support::{expect_welcome, refusal_status, within, Fixture};

fn handshake(token: Option<&str>, origin: Option<&str>, host: Option<&str>) -> Handshake {
    Handshake {
        token: token.map(str::to_owned),
        origin: origin.map(str::to_owned),
        host: host.map(str::to_owned),
        ..Handshake::default()
    }
}

#[tokio::test]
async fn no_token_is_refused_with_401() {
    let fixture = Fixture::start().await;
    let url = &fixture.server.connection_info().url;
    let result = within(
        "a refusal",
        Client::connect_with(url, &handshake(None, None, None)),
    )
    .await;
    assert_eq!(refusal_status(result), 401);
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_401() {
    let fixture = Fixture::start().await;
    let url = &fixture.server.connection_info().url;
    let wrong = ferry_ws::Token::generate().encoded();
    let result = within(
        "a refusal",
        Client::connect_with(url, &handshake(Some(&wrong), None, None)),
    )
    .await;
    assert_eq!(refusal_status(result), 401);
}

#[tokio::test]
async fn foreign_origins_and_prefix_tricks_are_refused_with_403() {
    let fixture = Fixture::start().await;
    let info = fixture.server.connection_info();
    for origin in [
        "https://evil.example",
        "http://tauri.localhost.evil.com",
        "tauri://localhost.evil.com",
        "null",
    ] {
        let result = within(
            "a refusal",
            Client::connect_with(&info.url, &handshake(Some(&info.token), Some(origin), None)),
        )
        .await;
        assert_eq!(
            refusal_status(result),
            403,
            "origin {origin} was not refused"
        );
    }
}

#[tokio::test]
async fn non_loopback_hosts_are_refused_with_403() {
    let fixture = Fixture::start().await;
    let info = fixture.server.connection_info();
    let port = fixture.server.local_addr().port();
    for host in [
        format!("evil.example:{port}"),
        format!("192.168.1.10:{port}"),
        format!("localhost.evil.com:{port}"),
    ] {
        let result = within(
            "a refusal",
            Client::connect_with(&info.url, &handshake(Some(&info.token), None, Some(&host))),
        )
        .await;
        assert_eq!(refusal_status(result), 403, "host {host} was not refused");
    }
}

#[tokio::test]
async fn the_webview_origin_with_the_token_is_welcomed_with_a_snapshot() {
    let fixture = Fixture::start().await;
    let info = fixture.server.connection_info();
    for origin in ferry_ws::access::WEBVIEW_ORIGINS {
        let mut client = within(
            "a connection",
            Client::connect_with(&info.url, &handshake(Some(&info.token), Some(origin), None)),
        )
        .await
        .unwrap();
        client.hello(None).await.unwrap();
        match expect_welcome(&mut client).await {
            ServerMessage::Welcome {
                protocol, snapshot, ..
            } => {
                assert_eq!(protocol, "ferry.v1");
                assert!(snapshot.jobs.is_empty());
            }
            _ => unreachable!(),
        }
        client.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_connection_file_is_private_and_removed_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("connection.json");
    let fixture = Fixture::start_with(ferry_ws::ServerConfig {
        connection_file: Some(path.clone()),
        ..ferry_ws::ServerConfig::default()
    })
    .await;
    let written = ferry_ws::connection_file::read(&path).unwrap();
    assert_eq!(&written, fixture.server.connection_info());
    assert_eq!(written.pid, std::process::id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // A native client connects with what the file says.
    let mut client = within("a connection", Client::connect(&written))
        .await
        .unwrap();
    expect_welcome(&mut client).await;
    fixture.server.shutdown().await;
    assert!(!path.exists(), "the connection file outlived the server");
}
