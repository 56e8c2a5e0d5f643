//! `ferry`: the upload engine without a window.
//!
//! `ferry upload PATH... --to URL` sends files and folders to a tus server (or a local
//! folder) with the same engine as the desktop app, shows progress in the terminal (or
//! one JSON line per update with `--json`), and exits with a code that says whether
//! everything arrived. Unfinished uploads resume when the same command runs again.
//!
//! `ferry destination add|list|remove|test|default` manages the destinations the app
//! shows (secrets in the OS keyring), and `--to NAME` uploads to one of them.
//!
//! `ferry serve` runs the same engine with the progress server and no window;
//! `ferry status [--follow]` watches any running Ferry through its connection file.

mod destination;
mod manage;
mod serve;
mod signal;
mod size;
mod status;
mod upload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ferry: resumable, verified uploads.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Upload files and folders, then exit (0: everything arrived and was verified).
    Upload(upload::UploadArgs),
    /// Run the engine and the progress server without a window until stopped.
    Serve(serve::ServeArgs),
    /// Add, list, remove and test stored destinations (secrets in the system keyring).
    Destination(manage::DestinationCommand),
    /// Show the queue of a running Ferry (the app or `ferry serve`); `--follow` watches.
    Status(status::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferry: cannot start the async runtime: {e}");
            return ExitCode::from(upload::EXIT_ERROR);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Upload(args) => upload::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Destination(args) => manage::run(args).await,
        }
    });
    ExitCode::from(code)
}

/// Logs go to stderr, filtered by `RUST_LOG` (warnings and errors by default), so they
/// never mix with `--json` output on stdout.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
