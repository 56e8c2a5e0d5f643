//! `ferry serve`: the engine and the progress server without a window, for a NAS or a
//! server. Local clients (`ferry status`, scripts, the desktop UI's protocol) find it
//! through the connection file, enqueue files with the `enqueue` command, and watch.
//! With `--watch-dir`, it keeps folders in sync as the app does: what is new or changed
//! in them is uploaded, each version once.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use ferry_core::EngineConfig;
use ferry_sync::{FolderSync, SyncIndex, WatchConfig};
use ferry_ws::{Headless, ServerConfig};

use crate::destination::DestinationArgs;
use crate::signal::StopSignal;
use crate::size::parse_size;
use crate::upload::{EXIT_ERROR, EXIT_OK};

/// Arguments of `ferry serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    destination: DestinationArgs,
    /// Upload rate cap for all files together, per second (`500K`, `2MiB`).
    #[arg(long, value_parser = parse_size)]
    limit_rate: Option<u64>,
    /// How many files upload at once (3, or the stored destination's).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Where the queue and resume points are kept (by default a folder per destination
    /// in the user's data folder).
    #[arg(long, env = "FERRY_SERVE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where to write the connection file (address and token, readable by this user
    /// only) that local clients read.
    #[arg(long, env = "FERRY_CONNECTION_FILE")]
    connection_file: Option<PathBuf>,
    /// A folder to keep in sync: what is in it, and what is added or changed later, is
    /// uploaded (each version once; deleting a file never deletes its copy). May be
    /// given more than once.
    #[arg(long = "watch-dir", value_name = "DIR")]
    watch_dirs: Vec<PathBuf>,
}

/// Runs until SIGINT or SIGTERM; returns the exit code.
pub(crate) async fn run(args: ServeArgs) -> u8 {
    let mut stop = StopSignal::listen();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| args.destination.default_data_dir("serve"));
    let (destination, stored_concurrency) = match args.destination.build(&data_dir) {
        Ok(built) => built,
        Err(message) => {
            eprintln!("ferry: {message}");
            return EXIT_ERROR;
        }
    };
    let mut engine = EngineConfig::new(data_dir.clone(), destination);
    engine.concurrency = args.concurrency.or(stored_concurrency).unwrap_or(3).max(1);
    engine.bandwidth_limit = args.limit_rate;
    let connection_file = args
        .connection_file
        .clone()
        .unwrap_or_else(ferry_ws::connection_file::default_path);
    let server = ServerConfig {
        connection_file: Some(connection_file.clone()),
        ..ServerConfig::default()
    };
    let running = match Headless::start(engine, server).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("ferry: {e}");
            return EXIT_ERROR;
        }
    };
    let syncs = match watch_folders(&args.watch_dirs, &data_dir, &running.engine) {
        Ok(syncs) => syncs,
        Err(message) => {
            eprintln!("ferry: {message}");
            running.shutdown().await;
            return EXIT_ERROR;
        }
    };
    eprintln!(
        "Ferry is serving uploads to {} on {} (connection file {}, data in {}). Stop with Ctrl-C.",
        args.destination.to,
        running.server.connection_info().url,
        connection_file.display(),
        data_dir.display()
    );
    stop.recv().await;
    eprintln!("Stopping; unfinished uploads continue at the next start.");
    for sync in syncs {
        sync.stop().await;
    }
    running.shutdown().await;
    EXIT_OK
}

/// Starts keeping each of `folders` in sync, with one sync index in `data_dir`.
fn watch_folders(
    folders: &[PathBuf],
    data_dir: &std::path::Path,
    engine: &ferry_core::Engine,
) -> Result<Vec<FolderSync>, String> {
    if folders.is_empty() {
        return Ok(Vec::new());
    }
    let index = SyncIndex::open(&data_dir.join("sync.sqlite")).map_err(|e| e.to_string())?;
    let index = Arc::new(index);
    let mut syncs = Vec::new();
    for folder in folders {
        let folder = std::fs::canonicalize(folder).map_err(|e| {
            format!(
                "cannot watch {}: {e}; give an existing folder",
                folder.display()
            )
        })?;
        eprintln!("Keeping {} in sync.", folder.display());
        syncs.push(FolderSync::start(
            engine.clone(),
            Arc::clone(&index),
            WatchConfig::new(folder),
        ));
    }
    Ok(syncs)
}
