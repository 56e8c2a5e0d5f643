//! The desktop shell: starts the engine and the progress server, opens the window, and
//! turns drops, dialogs and commands into calls on the engine. Everything else lives in
//! the Tauri-free crates `ferry-core` and `ferry-ws`.

mod commands;
mod destination;
mod destination_settings;
#[cfg(feature = "e2e")]
mod e2e;
mod launch;
mod logging;
mod notifications;
mod settings;
mod state;
mod tray;
mod watched_folders;

use state::AppState;
use tauri::{DragDropEvent, Manager, RunEvent, WindowEvent};

/// Builds and runs the application until the user quits.
pub fn run() {
    let app = tauri::Builder::default()
        // First, so a second launch hands over its files and exits before anything else
        // starts (on Linux through the session bus; without one, each launch runs alone).
        .plugin(tauri_plugin_single_instance::init(|app, argv, cwd| {
            launch::show_main_window(app);
            let paths = launch::opened_paths(argv.into_iter().skip(1).map(Into::into));
            let paths = launch::resolved_against(paths, std::path::Path::new(&cwd));
            if let Some(state) = app.try_state::<AppState>() {
                enqueue_opened(&state.engine, paths);
            } else {
                tracing::warn!("files opened before Ferry finished starting were dropped");
            }
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        // Off until the user turns it on in the About view.
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .setup(|app| {
            let settings = settings::Settings::resolve(app.handle())?;
            let log_guard = logging::init(&settings.log_dir);
            tracing::info!(
                data_dir = %settings.data_dir.display(),
                destination = settings
                    .tus_endpoint
                    .clone()
                    .unwrap_or_else(|| settings.destination_dir.display().to_string()),
                logs = %settings.log_dir.display(),
                "starting Ferry {}", env!("CARGO_PKG_VERSION")
            );
            // The engine and the socket are up before the webview exists, so the first
            // thing the page asks for (the socket's address) is always there.
            let state = tauri::async_runtime::block_on(AppState::start(&settings, log_guard))?;
            notifications::watch_batches(app.handle().clone(), &state.engine);
            enqueue_opened(
                &state.engine,
                launch::opened_paths(std::env::args_os().skip(1)),
            );
            tray::install(app.handle(), &state.engine, &settings.data_dir);
            app.manage(state);
            let window_config = app
                .config()
                .app
                .windows
                .first()
                .cloned()
                .ok_or("tauri.conf.json declares no window")?;
            tauri::WebviewWindowBuilder::from_config(app.handle(), &window_config)?.build()?;
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) => {
                let state = window.state::<AppState>();
                enqueue_opened(&state.engine, paths.clone());
            }
            // Uploads under way go on in the tray; otherwise closing quits.
            WindowEvent::CloseRequested { api, .. }
                if tray::keeps_running_on_close(window.app_handle()) =>
            {
                api.prevent_close();
                if let Err(error) = window.hide() {
                    tracing::warn!(%error, "could not hide the window");
                }
            }
            _ => {}
        })
        .invoke_handler(tauri::generate_handler![
            commands::connection_info,
            commands::enqueue_paths,
            commands::snapshot,
            commands::startup_notice,
            commands::destination_dir,
            commands::app_info,
            commands::set_start_at_login,
            commands::open_logs,
            destination_settings::destinations,
            destination_settings::add_destination,
            destination_settings::edit_destination,
            destination_settings::remove_destination,
            destination_settings::set_default_destination,
            destination_settings::test_destination,
            watched_folders::watched_folders,
            watched_folders::add_watched_folder,
            watched_folders::remove_watched_folder,
            watched_folders::set_watched_folder_paused,
            #[cfg(feature = "e2e")]
            e2e::e2e_stop_server,
            #[cfg(feature = "e2e")]
            e2e::e2e_start_server,
        ])
        .build(tauri::generate_context!())
        .expect("Ferry could not start its window; see the log above");

    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            if let Some(state) = handle.try_state::<AppState>() {
                tauri::async_runtime::block_on(state.stop());
            }
        }
    });
}

/// Enqueues files given from outside the page (a drop, the command line), logging what
/// could not be: nobody awaits the answer.
fn enqueue_opened(engine: &ferry_core::Engine, paths: Vec<std::path::PathBuf>) {
    if paths.is_empty() {
        return;
    }
    let engine = engine.clone();
    tauri::async_runtime::spawn(async move {
        match engine.enqueue(paths).await {
            Ok(report) => {
                tracing::info!(jobs = report.jobs.len(), "enqueued files opened with Ferry");
            }
            Err(error) => tracing::error!(%error, "could not enqueue files opened with Ferry"),
        }
    });
}
