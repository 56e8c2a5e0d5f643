//! The tray icon: the queue's overall progress in its title and menu, with Pause all,
//! Resume all, Show and Quit; and uploads that keep going there when the window closes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferry_core::{Engine, EngineEvent, QueueTotals};
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// How often the tray's text may change: often enough to feel live, rarely enough that
/// a fast queue does not keep the desktop's panel busy.
const REFRESH: Duration = Duration::from_millis(500);

/// The tray, once it exists (a desktop without a tray area has none).
pub(crate) struct Tray {
    icon: TrayIcon<Wry>,
    status: MenuItem<Wry>,
    /// Marks that the user was told, once, that closing the window keeps uploads going.
    told_marker: PathBuf,
    told: AtomicBool,
}

/// Builds the tray and keeps its text in step with the queue. Without a tray area the
/// app runs on without one, and closing the window quits as usual.
pub(crate) fn install(app: &AppHandle, engine: &Engine, data_dir: &std::path::Path) {
    match build(app, data_dir) {
        Ok(tray) => {
            app.manage(tray);
            follow(app.clone(), engine);
        }
        Err(error) => tracing::warn!(%error, "no tray icon; closing the window will quit Ferry"),
    }
}

fn build(app: &AppHandle, data_dir: &std::path::Path) -> tauri::Result<Tray> {
    let status = MenuItem::with_id(app, "status", "No uploads", false, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "show", "Show Ferry", true, None::<&str>)?,
            &MenuItem::with_id(app, "pause_all", "Pause all", true, None::<&str>)?,
            &MenuItem::with_id(app, "resume_all", "Resume all", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "quit", "Quit Ferry", true, None::<&str>)?,
        ],
    )?;
    let mut builder = TrayIconBuilder::with_id("ferry")
        .tooltip("Ferry")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id.as_ref()));
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    let icon = builder.build(app)?;
    let told_marker = data_dir.join("told-about-tray");
    Ok(Tray {
        icon,
        status,
        told: AtomicBool::new(told_marker.exists()),
        told_marker,
    })
}

fn on_menu(app: &AppHandle, id: &str) {
    let engine = app.state::<crate::state::AppState>().engine.clone();
    match id {
        "show" => crate::launch::show_main_window(app),
        "pause_all" => {
            tauri::async_runtime::spawn(async move {
                let paused = engine.pause_all().await;
                tracing::info!(jobs = paused.len(), "paused all from the tray");
            });
        }
        "resume_all" => {
            tauri::async_runtime::spawn(async move {
                let resumed = engine.resume_all().await;
                tracing::info!(jobs = resumed.len(), "resumed all from the tray");
            });
        }
        "quit" => app.exit(0),
        _ => {}
    }
}

/// Updates the tray's text from the queue's totals, at most every [`REFRESH`].
fn follow(app: AppHandle, engine: &Engine) {
    let (snapshot, events) = engine.subscribe_with_snapshot();
    tauri::async_runtime::spawn(async move {
        show(&app, &snapshot.totals);
        paced_totals(events, REFRESH, |totals| show(&app, totals)).await;
    });
}

/// Calls `apply` with the newest queue totals at most once every `every`, until the
/// engine stops: the first change after a quiet spell at once, later ones when the
/// period is over, the newest replacing any older one waiting. Nothing waiting means
/// waiting on the channel alone: a timer that has already expired would wake the loop
/// again at once, for ever.
async fn paced_totals(
    mut events: broadcast::Receiver<EngineEvent>,
    every: Duration,
    mut apply: impl FnMut(&QueueTotals),
) {
    let mut shown_at: Option<Instant> = None;
    let mut waiting: Option<QueueTotals> = None;
    loop {
        let received = match (&waiting, shown_at) {
            (Some(_), Some(at)) => tokio::time::timeout_at(at + every, events.recv())
                .await
                .ok(),
            _ => Some(events.recv().await),
        };
        match received {
            Some(Ok(EngineEvent::Job { totals, .. } | EngineEvent::Progress { totals, .. })) => {
                waiting = Some(totals);
            }
            Some(Err(RecvError::Closed)) => break,
            // Lagged: the next event brings the newest totals. None: the period is over.
            Some(Err(RecvError::Lagged(_))) | None => {}
        }
        if shown_at.is_none_or(|at| at.elapsed() >= every) {
            if let Some(totals) = waiting.take() {
                apply(&totals);
                shown_at = Some(Instant::now());
            }
        }
    }
}

fn show(app: &AppHandle, totals: &QueueTotals) {
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let text = summary(totals);
    let shown = tray
        .status
        .set_text(&text)
        .and_then(|()| tray.icon.set_tooltip(Some(format!("Ferry: {text}"))))
        .and_then(|()| tray.icon.set_title(title(totals)));
    if let Err(error) = shown {
        tracing::debug!(%error, "could not update the tray");
    }
}

/// Whether closing the window should hide it to the tray instead of quitting: only
/// when there is a tray to come back from and uploads are under way. Tells the user so
/// the first time.
pub(crate) fn keeps_running_on_close(app: &AppHandle) -> bool {
    let Some(tray) = app.try_state::<Tray>() else {
        return false;
    };
    let totals = app
        .state::<crate::state::AppState>()
        .engine
        .snapshot()
        .totals;
    if totals.active + totals.queued == 0 {
        return false;
    }
    if !tray.told.swap(true, Ordering::Relaxed) {
        if let Err(error) = std::fs::write(&tray.told_marker, b"") {
            tracing::debug!(%error, "could not remember having told about the tray");
        }
        let shown = app
            .notification()
            .builder()
            .title("Ferry is still uploading")
            .body("Uploads go on in the background. Open Ferry or quit it from its tray icon.")
            .show();
        if let Err(error) = shown {
            tracing::info!(%error, "could not show a desktop notification");
        }
    }
    true
}

/// The tray menu's status line.
pub(crate) fn summary(totals: &QueueTotals) -> String {
    let running = totals.active + totals.queued;
    if totals.jobs == 0 {
        "No uploads".to_owned()
    } else if running > 0 {
        format!(
            "Uploading: {} of {} files · {} %",
            totals.done,
            totals.jobs - totals.cancelled,
            percent(totals)
        )
    } else if totals.paused > 0 {
        format!(
            "Paused: {} files left, {} uploaded",
            totals.paused, totals.done
        )
    } else if totals.failed > 0 {
        format!("{} uploaded, {} failed", totals.done, totals.failed)
    } else {
        format!("All {} uploaded", totals.done)
    }
}

/// The short label beside the icon (where the desktop shows one): the percentage while
/// uploading, nothing otherwise.
fn title(totals: &QueueTotals) -> Option<String> {
    (totals.active + totals.queued > 0).then(|| format!("{} %", percent(totals)))
}

fn percent(totals: &QueueTotals) -> u64 {
    if totals.bytes_total == 0 {
        return 0;
    }
    // Whole percents, never 100 before the last byte.
    (totals.bytes_done.saturating_mul(100) / totals.bytes_total).min(99)
}

#[cfg(test)]
mod tests {
    use super::{paced_totals, summary, title, QueueTotals};
    use ferry_core::EngineEvent;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::sync::broadcast;

    fn event(done: u32) -> EngineEvent {
        EngineEvent::Progress {
            progress: ferry_core::JobProgress {
                job_id: ferry_core::JobId(1),
                status: ferry_core::JobStatus::Uploading,
                current: 0,
                total: 1,
                speed: 0.0,
                eta_secs: None,
                sent: None,
            },
            totals: totals(|t| (t.jobs, t.done) = (10, done)),
        }
    }

    /// Runs `body` on a current-thread runtime with paused time, on its own thread, and
    /// fails if it has not finished after 10 real seconds. Paused time only moves when
    /// the runtime is idle, so a task that keeps waking itself stops `body`'s sleeps.
    fn paused_within_10_s(body: impl std::future::Future<Output = ()> + Send + 'static) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(body);
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the runtime never went idle: a task kept waking itself");
    }

    #[test]
    fn totals_are_shown_at_once_then_at_most_once_a_period_newest_first_and_idle_costs_nothing() {
        paused_within_10_s(async {
            let (tx, rx) = broadcast::channel(16);
            let shown: Arc<Mutex<Vec<u32>>> = Arc::default();
            let seen = Arc::clone(&shown);
            let pacer = tokio::spawn(paced_totals(rx, Duration::from_millis(500), move |t| {
                seen.lock().unwrap().push(t.done);
            }));
            let shown_now = || shown.lock().unwrap().clone();

            tx.send(event(1)).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(
                shown_now(),
                [1],
                "the first change after a quiet spell at once"
            );
            tx.send(event(2)).unwrap();
            tx.send(event(3)).unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(shown_now(), [1], "later ones wait for the period");
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(shown_now(), [1, 3], "the newest, once the period is over");

            // Nothing waiting: an hour passes only if the pacer lets the runtime idle.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            assert_eq!(shown_now(), [1, 3]);
            drop(tx);
            pacer.await.unwrap();
        });
    }

    fn totals(f: impl FnOnce(&mut QueueTotals)) -> QueueTotals {
        let mut totals = QueueTotals::default();
        f(&mut totals);
        totals
    }

    #[test]
    fn the_status_line_says_what_the_queue_is_doing() {
        assert_eq!(summary(&QueueTotals::default()), "No uploads");
        let uploading = totals(|t| {
            (t.jobs, t.done, t.active, t.queued) = (10, 3, 2, 5);
            (t.bytes_total, t.bytes_done) = (4_000, 1_800);
        });
        assert_eq!(summary(&uploading), "Uploading: 3 of 10 files · 45 %");
        assert_eq!(title(&uploading).as_deref(), Some("45 %"));
        let paused = totals(|t| (t.jobs, t.done, t.paused) = (4, 1, 3));
        assert_eq!(summary(&paused), "Paused: 3 files left, 1 uploaded");
        assert_eq!(title(&paused), None);
        let failed = totals(|t| (t.jobs, t.done, t.failed) = (5, 4, 1));
        assert_eq!(summary(&failed), "4 uploaded, 1 failed");
        let done = totals(|t| (t.jobs, t.done) = (5, 5));
        assert_eq!(summary(&done), "All 5 uploaded");
    }

    #[test]
    fn the_percentage_reaches_100_only_when_nothing_runs() {
        let almost = totals(|t| {
            (t.jobs, t.active) = (1, 1);
            (t.bytes_total, t.bytes_done) = (1_000, 999);
        });
        assert_eq!(title(&almost).as_deref(), Some("99 %"));
    }
}
