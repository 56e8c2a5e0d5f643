//! Logs to stderr and to daily rolling files in the platform's log folder.

use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// How many daily log files are kept before the oldest is deleted.
const KEPT_LOG_FILES: usize = 14;

/// Installs the subscriber. `RUST_LOG` overrides the default filter. The returned guard
/// flushes the file writer when dropped, so it lives as long as the app.
pub(crate) fn init(log_dir: &Path) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,ferry_core=info,ferry_ws=info,ferry_desktop=info")
    });
    // The appender prunes old files by listing the folder, so the folder must exist first.
    let file = std::fs::create_dir_all(log_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("ferry")
                .filename_suffix("log")
                .max_log_files(KEPT_LOG_FILES)
                .build(log_dir)
                .map_err(|e| e.to_string())
        });
    let (file_layer, guard) = match file {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(fmt::layer().with_ansi(false).with_writer(writer)),
                Some(guard),
            )
        }
        Err(error) => {
            eprintln!(
                "ferry: logging to stderr only; could not open {}: {error}",
                log_dir.display()
            );
            (None, None)
        }
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr))
        .with(file_layer)
        .try_init();
    guard
}
