//! `ferry status`: the queue of a running Ferry (the app or `ferry serve`), read through
//! its connection file and its WebSocket, once or live with `--follow`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use ferry_core::{JobStatus, JobView, QueueTotals, Snapshot};
use ferry_ws::{Client, ServerMessage, WsError};

use crate::signal::StopSignal;
use crate::upload::{print_json, EXIT_ERROR, EXIT_OK};

/// Arguments of `ferry status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Keep watching: print each job change and the queue's progress until Ferry stops
    /// (or Ctrl-C).
    #[arg(long, short)]
    follow: bool,
    /// One JSON object per line (the protocol's messages) instead of text.
    #[arg(long)]
    json: bool,
    /// The connection file of the Ferry to watch.
    #[arg(long, env = "FERRY_CONNECTION_FILE")]
    connection_file: Option<PathBuf>,
}

/// Prints the queue (and follows it); returns the exit code.
pub(crate) async fn run(args: StatusArgs) -> u8 {
    let path = args
        .connection_file
        .clone()
        .unwrap_or_else(ferry_ws::connection_file::default_path);
    let info = match ferry_ws::connection_file::read(&path) {
        Ok(info) => info,
        Err(e) => {
            eprintln!("ferry: {e}");
            eprintln!("Is Ferry running? Start the app or `ferry serve`.");
            return EXIT_ERROR;
        }
    };
    let mut client = match Client::connect(&info).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("ferry: cannot reach Ferry at {}: {e}", info.url);
            return EXIT_ERROR;
        }
    };
    match follow(&mut client, &args).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("ferry: {e}");
            EXIT_ERROR
        }
    }
}

async fn follow(client: &mut Client, args: &StatusArgs) -> Result<(), WsError> {
    let mut stop = StopSignal::listen();
    let mut last_totals_line: Option<Instant> = None;
    let mut welcomed = false;
    loop {
        let message = tokio::select! {
            message = client.next_event() => message,
            () = stop.recv() => return Ok(()),
        };
        let message = match message {
            Ok(message) => message,
            // Ferry stopping ends a follow normally.
            Err(_) if args.follow && welcomed => {
                println!("Ferry stopped.");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if args.json {
            print_json(&message);
        }
        match &message {
            ServerMessage::Welcome { snapshot, .. } => {
                welcomed = true;
                if !args.json {
                    print_snapshot(snapshot);
                }
                if !args.follow {
                    return Ok(());
                }
            }
            ServerMessage::Job { job, .. } if !args.json => println!("{}", job_line(job)),
            // The client has applied the change: its state holds the whole job.
            ServerMessage::Change { job, .. } if !args.json => {
                if let Some(view) = client.state().jobs.get(&job.id) {
                    println!("{}", job_line(view));
                }
            }
            ServerMessage::Totals { totals, .. } if !args.json => {
                println!("{}", totals_line(totals));
                last_totals_line = Some(Instant::now());
            }
            ServerMessage::Progress { totals, .. }
                if !args.json
                    && last_totals_line.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) =>
            {
                println!("{}", totals_line(totals));
                last_totals_line = Some(Instant::now());
            }
            _ => {}
        }
    }
}

fn print_snapshot(snapshot: &Snapshot) {
    if snapshot.jobs.is_empty() {
        println!("No uploads yet.");
    }
    for job in &snapshot.jobs {
        println!("{}", job_line(job));
    }
    println!("{}", totals_line(&snapshot.totals));
}

/// `job-3  uploading  42%  holiday.mov` plus the error or note when there is one.
fn job_line(job: &JobView) -> String {
    let percent = match job.status {
        JobStatus::Done => 100,
        _ if job.progress.total > 0 => job.progress.current * 100 / job.progress.total,
        _ => 0,
    };
    let mut line = format!(
        "{:<8} {:<9} {percent:>3}%  {}",
        job.id, job.status, job.name
    );
    if let Some(extra) = job.error.as_deref().or(job.note.as_deref()) {
        line.push_str(" — ");
        line.push_str(extra);
    }
    line
}

/// `3 of 10 files · 1.2 GB of 4.0 GB · 35.0 MB/s`.
fn totals_line(totals: &QueueTotals) -> String {
    format!(
        "{} of {} files done · {:.1} MB of {:.1} MB · {:.1} MB/s · {} failed",
        totals.done,
        totals.jobs,
        totals.bytes_done as f64 / 1e6,
        totals.bytes_total as f64 / 1e6,
        totals.speed / 1e6,
        totals.failed
    )
}
