//! `ferry serve`: the engine and the progress server without a window, for a NAS or a
//! server. Local clients (`ferry status`, scripts, the desktop UI's protocol) find it
//! through the connection file, enqueue files with the `enqueue` command, and watch.

use std::path::PathBuf;

use clap::Args;
use ferry_core::EngineConfig;
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
    eprintln!(
        "Ferry is serving uploads to {} on {} (connection file {}, data in {}). Stop with Ctrl-C.",
        args.destination.to,
        running.server.connection_info().url,
        connection_file.display(),
        data_dir.display()
    );
    stop.recv().await;
    eprintln!("Stopping; unfinished uploads continue at the next start.");
    running.shutdown().await;
    EXIT_OK
}
