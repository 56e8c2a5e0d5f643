//! Commands the webview calls with `invoke`.

// Tauri hands managed state to commands by value.
#![allow(clippy::needless_pass_by_value)]

use crate::state::AppState;
use ferry_core::{EnqueueReport, Snapshot};
use ferry_ws::{AppInfo, ConnectionInfo};
use std::path::PathBuf;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_opener::OpenerExt as _;

/// Where the progress socket is and the token it wants.
#[tauri::command]
pub(crate) fn connection_info(state: State<'_, AppState>) -> ConnectionInfo {
    state.connection_info()
}

/// Enqueues files and folders: the same entry point as a drop on the window.
#[tauri::command]
pub(crate) async fn enqueue_paths(
    paths: Vec<String>,
    state: State<'_, AppState>,
) -> Result<EnqueueReport, String> {
    state
        .engine
        .enqueue(paths.into_iter().map(PathBuf::from).collect())
        .await
        .map_err(|error| error.to_string())
}

/// The whole state, for when no socket can be opened.
#[tauri::command]
pub(crate) fn snapshot(state: State<'_, AppState>) -> Snapshot {
    state.engine.snapshot()
}

/// Why uploads do not go to the destination the user set (an unreadable registry, a
/// default destination that cannot be built), if they do not; the UI shows it once.
#[tauri::command]
pub(crate) fn startup_notice(state: State<'_, AppState>) -> Option<String> {
    state.startup_notice.clone()
}

/// Where uploads go (the local folder, or the tus server's URL), shown in the UI.
#[tauri::command]
pub(crate) fn destination_dir(state: State<'_, AppState>) -> String {
    state.destination_label()
}

/// The version, licence and folders the About view shows, and the start-at-login setting.
#[tauri::command]
pub(crate) fn app_info(app: AppHandle, state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        licence: env!("CARGO_PKG_LICENSE").to_owned(),
        data_dir: state.data_dir.display().to_string(),
        log_dir: state.log_dir.display().to_string(),
        destination: state.destination_label(),
        start_at_login: app.autolaunch().is_enabled().unwrap_or(false),
    }
}

/// Turns starting at login on or off; returns the setting as it is afterwards.
#[tauri::command]
pub(crate) fn set_start_at_login(app: AppHandle, enabled: bool) -> Result<bool, String> {
    let autolaunch = app.autolaunch();
    let changed = if enabled {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    changed.map_err(|error| {
        format!(
            "could not turn starting at login {}: {error}",
            if enabled { "on" } else { "off" }
        )
    })?;
    tracing::info!(enabled, "start at login changed");
    autolaunch
        .is_enabled()
        .map_err(|error| format!("could not read the start-at-login setting: {error}"))
}

/// Opens the log folder in the file manager ("Open logs").
#[tauri::command]
pub(crate) fn open_logs(app: AppHandle, state: State<'_, AppState>) -> Result<(), String> {
    let folder = state.log_dir.display().to_string();
    app.opener()
        .open_path(&folder, None::<&str>)
        .map_err(|error| format!("could not open {folder}: {error}"))
}
