//! Where the app keeps its data, logs and uploads.

use std::path::PathBuf;
use tauri::Manager;

/// Folders the app uses, resolved once at start.
pub(crate) struct Settings {
    /// Holds the job database. `FERRY_DATA_DIR` overrides the platform's app data folder.
    pub(crate) data_dir: PathBuf,
    /// The local folder destination. `FERRY_DESTINATION_DIR` overrides `~/Ferry Uploads`.
    pub(crate) destination_dir: PathBuf,
    /// Rolling log files. `FERRY_LOG_DIR` overrides the platform's log folder.
    pub(crate) log_dir: PathBuf,
    /// The connection file for native clients. `FERRY_CONNECTION_FILE` overrides the
    /// runtime folder's `ferry/connection.json`.
    pub(crate) connection_file: PathBuf,
    /// A tus endpoint to upload to instead of the local folder (`FERRY_DESTINATION_URL`),
    /// with an optional Bearer token (`FERRY_DESTINATION_TOKEN`).
    pub(crate) tus_endpoint: Option<String>,
    /// See `tus_endpoint`. Read once at start and kept only in memory.
    pub(crate) tus_token: Option<String>,
    /// Upload rate cap for all jobs together in bytes/s (`FERRY_BANDWIDTH_LIMIT`).
    pub(crate) bandwidth_limit: Option<u64>,
}

impl Settings {
    pub(crate) fn resolve(app: &tauri::AppHandle) -> Result<Self, tauri::Error> {
        let paths = app.path();
        Ok(Self {
            data_dir: from_env("FERRY_DATA_DIR").map_or_else(|| paths.app_data_dir(), Ok)?,
            destination_dir: from_env("FERRY_DESTINATION_DIR")
                .unwrap_or_else(ferry_core::LocalFolderDestination::default_root),
            log_dir: from_env("FERRY_LOG_DIR").map_or_else(|| paths.app_log_dir(), Ok)?,
            connection_file: from_env("FERRY_CONNECTION_FILE")
                .unwrap_or_else(ferry_ws::connection_file::default_path),
            tus_endpoint: text_from_env("FERRY_DESTINATION_URL"),
            tus_token: text_from_env("FERRY_DESTINATION_TOKEN"),
            bandwidth_limit: text_from_env("FERRY_BANDWIDTH_LIMIT").and_then(|v| v.parse().ok()),
        })
    }
}

fn from_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn text_from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
