//! Commands the webview calls with `invoke`.

// Tauri hands managed state to commands by value.
#![allow(clippy::needless_pass_by_value)]

use crate::state::AppState;
use ferry_core::{EnqueueReport, Snapshot};
use ferry_ws::ConnectionInfo;
use std::path::PathBuf;
use tauri::State;

/// Where the progress socket is and the token it wants.
#[tauri::command]
pub(crate) fn connection_info(state: State<'_, AppState>) -> ConnectionInfo {
    state.connection.clone()
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

/// Where uploads go (the local folder, or the tus server's URL), shown in the UI.
#[tauri::command]
pub(crate) fn destination_dir(state: State<'_, AppState>) -> String {
    state.destination_label.clone()
}
