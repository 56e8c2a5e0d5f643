//! A desktop notification when a batch of uploads finishes.

use ferry_core::{Engine, EngineEvent, QueueTotals};
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

/// Watches the queue and notifies each time it goes from busy to idle, with how many
/// files were uploaded and how many failed in that batch.
pub(crate) fn watch_batches(app: AppHandle, engine: &Engine) {
    let (snapshot, mut events) = engine.subscribe_with_snapshot();
    tauri::async_runtime::spawn(async move {
        let mut batch_start = snapshot.totals.clone();
        let mut busy = is_busy(&snapshot.totals);
        loop {
            let totals = match events.recv().await {
                Ok(EngineEvent::Job { totals, .. } | EngineEvent::Progress { totals, .. }) => {
                    totals
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            let now_busy = is_busy(&totals);
            if now_busy && !busy {
                batch_start = totals.clone();
            } else if busy && !now_busy {
                notify(&app, &batch_start, &totals);
            }
            busy = now_busy;
        }
    });
}

fn is_busy(totals: &QueueTotals) -> bool {
    totals.active + totals.queued > 0
}

fn notify(app: &AppHandle, before: &QueueTotals, after: &QueueTotals) {
    let done = after.done.saturating_sub(before.done);
    let failed = after.failed.saturating_sub(before.failed);
    if done == 0 && failed == 0 {
        return;
    }
    let plural = |n: u32| if n == 1 { "file" } else { "files" };
    let body = match failed {
        0 => format!("{done} {} uploaded and verified.", plural(done)),
        _ => format!(
            "{done} {} uploaded, {failed} failed. Open Ferry to retry.",
            plural(done)
        ),
    };
    tracing::info!(done, failed, "batch finished");
    if let Err(error) = app
        .notification()
        .builder()
        .title("Uploads finished")
        .body(&body)
        .show()
    {
        // No notification service (a bare X session, a CI machine): the log says it.
        tracing::info!(%error, "could not show a desktop notification");
    }
}
