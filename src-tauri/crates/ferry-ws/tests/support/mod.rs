//! A real engine writing to a temporary folder and a real server on an ephemeral port.

#![allow(dead_code, unreachable_pub, missing_docs)]

use ferry_core::{Engine, EngineConfig, LocalFolderDestination};
use ferry_ws::{Client, Server, ServerConfig, ServerMessage, WsError};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

pub struct Fixture {
    pub dir: TempDir,
    pub engine: Engine,
    pub server: Server,
}

impl Fixture {
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["data", "destination", "sources"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let destination = Arc::new(LocalFolderDestination::new(dir.path().join("destination")));
        let engine = Engine::start(EngineConfig::new(dir.path().join("data"), destination))
            .await
            .unwrap();
        let server = Server::start(engine.clone(), config).await.unwrap();
        Self {
            dir,
            engine,
            server,
        }
    }

    pub fn source(&self, name: &str, len: usize) -> PathBuf {
        let path = self.dir.path().join("sources").join(name);
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn destination(&self) -> PathBuf {
        self.dir.path().join("destination")
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.server.connection_info())
            .await
            .unwrap()
    }
}

/// Bounds every wait, so a broken server fails the test instead of hanging it.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub async fn next(client: &mut Client) -> ServerMessage {
    within("a server message", client.next_message())
        .await
        .unwrap()
}

pub async fn expect_welcome(client: &mut Client) -> ServerMessage {
    let message = next(client).await;
    assert!(
        matches!(message, ServerMessage::Welcome { .. }),
        "expected a welcome, got {message:?}"
    );
    message
}

pub fn refusal_status(result: Result<Client, WsError>) -> u16 {
    match result {
        Err(WsError::Refused { status, .. }) => status,
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, but the connection was accepted"),
    }
}
