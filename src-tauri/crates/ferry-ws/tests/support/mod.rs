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
    let message = within("the welcome", client.next_event()).await.unwrap();
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

/// A backend whose events the test scripts, for exact control of what is published.
pub struct Scripted {
    state: std::sync::Mutex<ferry_core::Snapshot>,
    events: tokio::sync::broadcast::Sender<ferry_core::EngineEvent>,
}

impl Scripted {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: std::sync::Mutex::new(ferry_core::Snapshot::default()),
            events: tokio::sync::broadcast::channel(1 << 16).0,
        })
    }

    pub fn emit_job(&self, job: ferry_core::JobView) {
        let mut state = self.state.lock().unwrap();
        match state.jobs.iter_mut().find(|j| j.id == job.id) {
            Some(old) => *old = job.clone(),
            None => state.jobs.push(job.clone()),
        }
        state.totals.jobs = state.jobs.len() as u32;
        state.totals.done = state
            .jobs
            .iter()
            .filter(|j| j.status == ferry_core::JobStatus::Done)
            .count() as u32;
        let totals = state.totals.clone();
        let _ = self
            .events
            .send(ferry_core::EngineEvent::Job { job, totals });
    }

    pub fn emit_progress(&self, id: i64, status: ferry_core::JobStatus, current: u64, total: u64) {
        let mut state = self.state.lock().unwrap();
        let progress = progress(id, status, current, total);
        if let Some(job) = state.jobs.iter_mut().find(|j| j.id.0 == id) {
            job.progress = progress.clone();
        }
        let totals = state.totals.clone();
        let _ = self
            .events
            .send(ferry_core::EngineEvent::Progress { progress, totals });
    }
}

impl ferry_ws::Backend for Scripted {
    fn subscribe_with_snapshot(
        &self,
    ) -> (
        ferry_core::Snapshot,
        tokio::sync::broadcast::Receiver<ferry_core::EngineEvent>,
    ) {
        let state = self.state.lock().unwrap();
        (state.clone(), self.events.subscribe())
    }

    fn run(&self, command: ferry_ws::Command) -> ferry_ws::backend::CommandFuture<'_> {
        Box::pin(async move {
            Err(ferry_ws::protocol::ProtocolError {
                code: ferry_ws::protocol::ErrorCode::CommandFailed,
                message: format!("the scripted backend runs no commands: {command:?}"),
            })
        })
    }
}

pub fn progress(
    id: i64,
    status: ferry_core::JobStatus,
    current: u64,
    total: u64,
) -> ferry_core::JobProgress {
    ferry_core::JobProgress {
        job_id: ferry_core::JobId(id),
        status,
        current,
        total,
        speed: 0.0,
        eta_secs: None,
        sent: None,
    }
}

pub fn job_view(id: i64, name: &str, status: ferry_core::JobStatus) -> ferry_core::JobView {
    ferry_core::JobView {
        id: ferry_core::JobId(id),
        path: format!("/data/{name}"),
        name: name.to_owned(),
        size: 1000,
        status,
        progress: progress(id, status, 0, 1000),
        mime: None,
        hash: None,
        remote: None,
        error: None,
        note: None,
        created_at_ms: 1_795_000_000_000,
    }
}

pub async fn start_scripted(config: ServerConfig) -> (Arc<Scripted>, Server) {
    let backend = Scripted::new();
    let server = Server::start_with_backend(backend.clone(), config)
        .await
        .unwrap();
    (backend, server)
}

/// Reads until the server closes the connection and returns the close code.
pub async fn close_code(client: &mut Client) -> u16 {
    loop {
        match within("the close", client.next_message()).await {
            Ok(_) => {}
            Err(WsError::Closed(Some(reason))) => {
                return reason
                    .split_whitespace()
                    .next()
                    .and_then(|code| code.parse().ok())
                    .unwrap_or(0);
            }
            Err(other) => panic!("expected a close frame, got {other}"),
        }
    }
}

/// Waits until the server counts `n` open connections.
pub async fn open_connections(server: &Server, n: u64) {
    let mut watch = server.watch_connections();
    within("the connection count", watch.wait_for(|open| *open == n))
        .await
        .unwrap();
}
