//! The engine and the progress server running together without a window, as a
//! command-line `serve` needs them: one call starts both and writes the connection
//! file; one call stops both.

use crate::error::WsError;
use crate::server::{Server, ServerConfig};
use ferry_core::{Engine, EngineConfig};

/// A running engine with its progress server.
#[derive(Debug)]
pub struct Headless {
    /// The upload engine; enqueue files on it directly or through the socket.
    pub engine: Engine,
    /// The progress server; its [`Server::connection_info`] is what clients need.
    pub server: Server,
}

impl Headless {
    /// Starts the engine, then the server on 127.0.0.1 with `server` (set
    /// `connection_file` to [`crate::connection_file::default_path`] so that other
    /// local tools find it).
    pub async fn start(engine: EngineConfig, server: ServerConfig) -> Result<Self, WsError> {
        let engine = Engine::start(engine).await?;
        match Server::start(engine.clone(), server).await {
            Ok(server) => Ok(Self { engine, server }),
            Err(error) => {
                engine.shutdown().await;
                Err(error)
            }
        }
    }

    /// Removes the connection file, closes every client with 1001, then stops the
    /// engine (unfinished jobs stay queued for the next start).
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        self.engine.shutdown().await;
    }
}
