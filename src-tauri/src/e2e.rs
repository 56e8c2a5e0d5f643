//! Commands that only end-to-end builds have (`--features e2e`): they let the tests cut
//! the webview's connection for real, by stopping and starting the progress server,
//! instead of standing in for the socket. Release builds never contain them.

use crate::state::AppState;
use tauri::State;

/// Stops the progress server; every client, the window included, loses its socket.
#[tauri::command]
pub(crate) async fn e2e_stop_server(state: State<'_, AppState>) -> Result<(), String> {
    tracing::warn!("end-to-end test: stopping the progress server");
    state.stop_server().await;
    Ok(())
}

/// Starts the progress server again, on a new port with a new token and epoch.
#[tauri::command]
pub(crate) async fn e2e_start_server(state: State<'_, AppState>) -> Result<(), String> {
    tracing::warn!("end-to-end test: starting the progress server again");
    state
        .start_server()
        .await
        .map_err(|error| error.to_string())
}
