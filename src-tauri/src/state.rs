//! What the running app holds: the engine and the progress server.

use crate::destination::{self, ChoiceError};
use crate::settings::Settings;
use ferry_core::destinations::DestinationRegistry;
use ferry_core::{Engine, EngineConfig};
use ferry_ws::{Server, ServerConfig};
use tokio::sync::Mutex;
use tracing_appender::non_blocking::WorkerGuard;

/// Managed Tauri state, reachable from every command.
pub(crate) struct AppState {
    /// The upload engine.
    pub(crate) engine: Engine,
    /// The progress server; taken out when the app stops.
    server: Mutex<Option<Server>>,
    /// Copied out of the server so commands never wait on the lock above.
    pub(crate) connection: ferry_ws::ConnectionInfo,
    /// Where uploads go (a folder or a URL), shown in the UI.
    pub(crate) destination_label: String,
    /// Why uploads do not go to the destination the user set, shown once at start.
    pub(crate) startup_notice: Option<String>,
    /// The job database's folder, shown in the About view.
    pub(crate) data_dir: std::path::PathBuf,
    /// The log files' folder, shown in the About view and opened from it.
    pub(crate) log_dir: std::path::PathBuf,
    /// Keeps the log file writer alive.
    _log_guard: Option<WorkerGuard>,
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("the upload engine could not start: {0}")]
    Engine(#[from] ferry_core::CoreError),
    #[error("the progress server could not start: {0}")]
    Server(#[from] ferry_ws::WsError),
    #[error(transparent)]
    Destination(#[from] ChoiceError),
}

impl AppState {
    pub(crate) async fn start(
        settings: &Settings,
        log_guard: Option<WorkerGuard>,
    ) -> Result<Self, StartError> {
        let chosen = destination::choose(settings, DestinationRegistry::open_default())?;
        let mut engine_config = EngineConfig::new(settings.data_dir.clone(), chosen.destination);
        engine_config.bandwidth_limit = settings.bandwidth_limit;
        if let Some(concurrency) = chosen.concurrency {
            engine_config.concurrency = concurrency;
        }
        let engine = Engine::start(engine_config).await?;
        let mut config = ServerConfig {
            connection_file: Some(settings.connection_file.clone()),
            ..ServerConfig::default()
        };
        if cfg!(debug_assertions) {
            // `tauri dev` serves the page from Vite; release builds never accept it.
            config
                .allowed_origins
                .push("http://localhost:5173".to_owned());
        }
        let server = Server::start(engine.clone(), config).await?;
        Ok(Self {
            engine,
            connection: server.connection_info().clone(),
            server: Mutex::new(Some(server)),
            destination_label: chosen.label,
            startup_notice: chosen.notice,
            data_dir: settings.data_dir.clone(),
            log_dir: settings.log_dir.clone(),
            _log_guard: log_guard,
        })
    }

    /// Stops the server (removing the connection file) and the engine, leaving unfinished
    /// jobs queued in the database for the next start.
    pub(crate) async fn stop(&self) {
        if let Some(server) = self.server.lock().await.take() {
            server.shutdown().await;
        }
        self.engine.shutdown().await;
    }
}
