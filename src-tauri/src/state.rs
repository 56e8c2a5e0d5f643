//! What the running app holds: the engine and the progress server.

use crate::settings::Settings;
use ferry_core::resume::SqliteLedger;
use ferry_core::secrets::{Auth, MemorySecrets, Secret};
use ferry_core::{
    Destination, Engine, EngineConfig, LocalFolderDestination, TusConfig, TusDestination,
};
use ferry_ws::{Server, ServerConfig};
use std::sync::Arc;
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
    #[error("the destination URL `{0}` is not a URL; fix FERRY_DESTINATION_URL")]
    DestinationUrl(String),
}

/// The destination the settings name, and how to show it.
fn destination(settings: &Settings) -> Result<(Arc<dyn Destination>, String), StartError> {
    let Some(endpoint) = &settings.tus_endpoint else {
        let folder = LocalFolderDestination::new(settings.destination_dir.clone());
        return Ok((
            Arc::new(folder),
            settings.destination_dir.display().to_string(),
        ));
    };
    let url =
        url::Url::parse(endpoint).map_err(|_| StartError::DestinationUrl(endpoint.clone()))?;
    let mut config = TusConfig::new(url);
    let secrets = MemorySecrets::new();
    if let Some(token) = &settings.tus_token {
        secrets.insert("default", Secret::new(token.clone()));
        config.auth = Auth::Bearer {
            token: "default".into(),
        };
    }
    let ledger = SqliteLedger::open(&settings.data_dir)?;
    let tus = TusDestination::new(config, Arc::new(ledger), Arc::new(secrets))?;
    Ok((Arc::new(tus), endpoint.clone()))
}

impl AppState {
    pub(crate) async fn start(
        settings: &Settings,
        log_guard: Option<WorkerGuard>,
    ) -> Result<Self, StartError> {
        let (destination, destination_label) = destination(settings)?;
        let mut engine_config = EngineConfig::new(settings.data_dir.clone(), destination);
        engine_config.bandwidth_limit = settings.bandwidth_limit;
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
            destination_label,
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
