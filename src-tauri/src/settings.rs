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
        })
    }
}

fn from_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
