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
    /// How the server was started, to start it again the same way (end-to-end builds
    /// restart it to cut every connection for real).
    #[cfg_attr(not(feature = "e2e"), allow(dead_code))]
    server_config: ServerConfig,
    /// Copied out of the server so commands never wait on the lock above.
    connection: std::sync::RwLock<ferry_ws::ConnectionInfo>,
    /// Where files added now upload (a folder, a URL, or a stored destination's name
    /// and place), shown in the UI; changes with the default destination.
    destination_label: std::sync::RwLock<String>,
    /// The built-in local folder, where uploads go when no stored destination is the
    /// default.
    local_folder: std::path::PathBuf,
    /// Set when `FERRY_DESTINATION_URL` chose the destination: it then stays, whatever
    /// the stored default.
    destination_from_environment: bool,
    /// Why uploads do not go to the destination the user set, shown once at start.
    pub(crate) startup_notice: Option<String>,
    /// The job database's folder, shown in the About view.
    pub(crate) data_dir: std::path::PathBuf,
    /// The log files' folder, shown in the About view and opened from it.
    pub(crate) log_dir: std::path::PathBuf,
    /// The watched folders being kept in sync.
    pub(crate) watching: crate::watched_folders::Watching,
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
        let server = Server::start(engine.clone(), config.clone()).await?;
        let watching = crate::watched_folders::Watching::start(&engine, &settings.data_dir).await;
        Ok(Self {
            engine,
            connection: std::sync::RwLock::new(server.connection_info().clone()),
            server: Mutex::new(Some(server)),
            server_config: config,
            destination_label: std::sync::RwLock::new(chosen.label),
            local_folder: settings.destination_dir.clone(),
            destination_from_environment: settings.tus_endpoint.is_some(),
            startup_notice: chosen.notice,
            data_dir: settings.data_dir.clone(),
            log_dir: settings.log_dir.clone(),
            watching,
            _log_guard: log_guard,
        })
    }

    /// Where the progress socket is and the token it wants.
    pub(crate) fn connection_info(&self) -> ferry_ws::ConnectionInfo {
        self.connection
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops the progress server: every client is closed with 1001 and the port is
    /// released, while the engine goes on. Only end-to-end builds can, to make
    /// connections drop for real.
    #[cfg(feature = "e2e")]
    pub(crate) async fn stop_server(&self) {
        if let Some(server) = self.server.lock().await.take() {
            server.shutdown().await;
        }
    }

    /// Starts the progress server again (on a new port, with a new token and epoch) if
    /// it is stopped, as a restart of the app would.
    #[cfg(feature = "e2e")]
    pub(crate) async fn start_server(&self) -> Result<(), ferry_ws::WsError> {
        let mut server = self.server.lock().await;
        if server.is_none() {
            let started = Server::start(self.engine.clone(), self.server_config.clone()).await?;
            *self
                .connection
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                started.connection_info().clone();
            *server = Some(started);
        }
        Ok(())
    }

    /// Where files added now upload, for people.
    pub(crate) fn destination_label(&self) -> String {
        self.destination_label
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Points the files added from now on at the stored default destination as
    /// `registry` has it (the local folder when there is none), without a restart; jobs
    /// already in the queue finish where they were going. A default that cannot be
    /// built (its secret is out of reach, say) changes nothing, and the error says why
    /// and where uploads still go.
    pub(crate) fn follow_default(
        &self,
        registry: Result<DestinationRegistry, ferry_core::CoreError>,
    ) -> Result<(), String> {
        if self.destination_from_environment {
            return Ok(());
        }
        let chosen = match destination::stored_default(&self.data_dir, registry) {
            Ok(Some(chosen)) => chosen,
            Ok(None) => destination::local_folder(&self.local_folder),
            Err(why) => {
                return Err(format!(
                    "{why} Uploads still go to {}.",
                    self.destination_label()
                ))
            }
        };
        self.engine.set_destination(chosen.destination);
        self.engine.set_concurrency(
            chosen
                .concurrency
                .unwrap_or(ferry_core::DEFAULT_CONCURRENCY),
        );
        *self
            .destination_label
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = chosen.label;
        Ok(())
    }

    /// Stops the server (removing the connection file) and the engine, leaving unfinished
    /// jobs queued in the database for the next start.
    pub(crate) async fn stop(&self) {
        self.watching.stop().await;
        if let Some(server) = self.server.lock().await.take() {
            server.shutdown().await;
        }
        self.engine.shutdown().await;
    }
}
