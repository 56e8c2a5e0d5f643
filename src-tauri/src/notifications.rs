//! A desktop notification when a batch of uploads finishes.

use ferry_core::{BatchSummary, BatchWatcher, Engine, EngineEvent};
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

/// Watches the queue and notifies each time a batch has settled.
pub(crate) fn watch_batches(app: AppHandle, engine: &Engine) {
    let (snapshot, mut events) = engine.subscribe_with_snapshot();
    tauri::async_runtime::spawn(async move {
        let mut watcher = BatchWatcher::new(&snapshot.totals);
        loop {
            let totals = match events.recv().await {
                Ok(EngineEvent::Job { totals, .. } | EngineEvent::Progress { totals, .. }) => {
                    totals
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            if let Some(summary) = watcher.observe(&totals) {
                notify(&app, summary);
            }
        }
    });
}

fn notify(app: &AppHandle, summary: BatchSummary) {
    tracing::info!(
        done = summary.done,
        failed = summary.failed,
        "batch finished"
    );
    let shown = app
        .notification()
        .builder()
        .title("Uploads finished")
        .body(summary.message())
        .show();
    if let Err(error) = shown {
        // No notification service (a bare X session, a CI machine): the log says it.
        tracing::info!(%error, "could not show a desktop notification");
    }
}
